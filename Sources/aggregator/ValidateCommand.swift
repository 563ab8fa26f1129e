import AggregatorCore
import ArgumentParser
import Configuration
import Exporters
import Logging

/// `tandem-aggregator validate --config FILE`.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a configuration file; on error, name the bad key and the closest valid one."
    )

    @Option(help: "The configuration file to check.")
    var config: String

    func run() throws {
        let configuration: CollectorConfiguration
        do {
            configuration = try CollectorConfiguration(contentsOfFile: config)
            // Exporter settings are checked by the exporters themselves.
            let quiet = Logger(label: "validate") { _ in SwiftLogNoOpLogHandler() }
            for exporter in configuration.exporters(for: .metrics) {
                try ExporterFactory.make(id: exporter.id.description, node: exporter.node,
                                         locations: configuration.document.locations, logger: quiet).shutdown()
            }
            for exporter in configuration.exporters(for: .profiles) {
                try ExporterFactory.makeProfiles(id: exporter.id.description, node: exporter.node,
                                                 locations: configuration.document.locations,
                                                 scopeVersion: TandemBuild.version, logger: quiet).shutdown(deadline: .now)
            }
        } catch let error as ConfigurationError {
            throw CommandFailure("\(config): \(error)")
        }
        for warning in configuration.warnings {
            print("warning: \(warning)")
        }
        for id in configuration.undefinedButReferencedExporters {
            print("note: exporter `\(id)` is used but not defined; it runs with its defaults")
        }
        print("\(config): valid")
    }
}
