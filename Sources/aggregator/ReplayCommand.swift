import AggregatorCore
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `tandem-aggregator replay FILE...`: the serving pipeline over capture files.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run captured streams through the pipeline, offline and deterministically.",
        discussion: "Without an exporter in the configuration, the metrics go to standard output as OTLP JSON lines."
    )

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var outputs: OutputOptions

    @Argument(help: "Capture files (each the bytes of one stream).")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one capture file") }
    }

    func run() throws {
        try outputs.createDirectory()
        let logger = pipeline.makeLogger(label: "tandem.replay")
        let runtime = try AggregatorRuntime(configuration: try pipeline.loadConfiguration(), outputs: outputs.paths,
                                            logger: logger)
        var failures = 0
        for file in files {
            let stream = StreamPipeline(runtime: runtime, logger: logger)
            do {
                try CaptureReader.read(path: file) { try stream.consume($0) }
                stream.finish(error: nil)
            } catch {
                stream.finish(error: error)
                logger.error("\(file): \(error)")
                failures += 1
            }
        }
        let exporters = try runtime.shutdown()
        for (id, statistics) in exporters.sorted(by: { $0.key < $1.key })
        where statistics.dropped > 0 || statistics.rejected > 0 {
            logger.warning("exporter \(id): \(statistics)")
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
