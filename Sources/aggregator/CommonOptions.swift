import AggregatorCore
import ArgumentParser
import Configuration
import Foundation
import Logging
import ProfileOutputs

/// `--config` and `--log-level`, shared by the commands that run the pipeline.
struct PipelineOptions: ParsableArguments {
    @Option(help: "An OpenTelemetry-Collector-shaped YAML configuration (default: the embedded one).")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not a level; use one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// A logger to standard error at the chosen level.
    func makeLogger(label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }

    func loadConfiguration() throws -> CollectorConfiguration {
        do {
            return try DefaultConfiguration.load(path: config)
        } catch let error as ConfigurationError {
            throw CommandFailure("\(config ?? "embedded configuration"): \(error)")
        }
    }
}

/// What `--group-by` takes.
enum StackGrouping: String, ExpressibleByArgument, CaseIterable {
    case process
    case thread
}

/// Where the profiles, metrics and report go.
struct OutputOptions: ParsableArguments {
    @Option(help: "Write the metrics as OTLP JSON lines to this file ('-' for standard output).")
    var metricsOut: String?

    @Option(help: "Write folded stacks (comm;outer;...;leaf count) to this file.")
    var folded: String?

    @Option(help: "Write a gzipped pprof profile to this file.")
    var pprof: String?

    @Option(help: "Write an SVG flame graph to this file.")
    var flamegraph: String?

    @Option(help: "Write the text summary (top functions, frame types, kernel classes; where threads wait, with off-CPU samples) to this file ('-' for standard output).")
    var report: String?

    @Option(help: "Write the off-CPU samples' folded stacks (comm;outer;...;leaf nanoseconds waited) to this file.")
    var offCPUFolded: String?

    @Option(help: "Write the off-CPU samples as a gzipped pprof profile (events/count, off_cpu/nanoseconds) to this file.")
    var offCPUPprof: String?

    @Option(help: "Write an SVG flame graph of the off-CPU samples, widths in time waited, to this file.")
    var offCPUFlamegraph: String?

    @Option(help: "Write all of the above into this directory, with fixed names (off-CPU: off-cpu.folded, off-cpu.pb.gz, off-cpu-flamegraph.svg).")
    var outputDir: String?

    @Option(help: "Root the folded stacks and the flame graph at each process (process) or at each thread under its process, by the thread's own name (thread).")
    var groupBy: StackGrouping = .process

    /// How the folded stacks and the flame graph name a stack's root.
    var stackPathStyle: StackPathStyle { StackPathStyle(groupsByThread: groupBy == .thread) }

    /// Creates `--output-dir` (and its parents) if it does not exist yet.
    func createDirectory() throws {
        guard let outputDir else { return }
        do {
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create --output-dir \(outputDir): \(error.localizedDescription)")
        }
    }

    var paths: OutputPaths {
        var paths = outputDir.map(OutputPaths.all(in:)) ?? OutputPaths()
        if let metricsOut { paths.metrics = metricsOut }
        if let folded { paths.folded = folded }
        if let pprof { paths.pprof = pprof }
        if let flamegraph { paths.flameGraph = flamegraph }
        if let report { paths.report = report }
        if let offCPUFolded { paths.offCPUFolded = offCPUFolded }
        if let offCPUPprof { paths.offCPUPprof = offCPUPprof }
        if let offCPUFlamegraph { paths.offCPUFlameGraph = offCPUFlamegraph }
        return paths
    }
}
