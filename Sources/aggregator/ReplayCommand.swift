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
        discussion: """
            Without an exporter in the configuration, the metrics go to standard output as OTLP JSON lines. \
            A capture that is empty, cut short (truncated inside a record) or malformed is still used up to \
            the bad byte, then makes replay exit with status 1, naming the file, the byte and the cause.
            """
    )

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var outputs: OutputOptions

    @Option(help: "Leave out the samples taken in the first this many seconds after the sampler started (the stream's start if the capture does not say), e.g. to look at a run past its start-up; they are counted in the summary.")
    var skipSeconds: Double = 0

    @Argument(help: "Capture files (each the bytes of one stream).")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one capture file") }
        guard skipSeconds.isFinite, skipSeconds >= 0, skipSeconds <= 1e9 else {
            throw ValidationError("--skip-seconds \(skipSeconds) is not a number of seconds from 0 to 1e9")
        }
    }

    func run() throws {
        try outputs.createDirectory()
        let logger = pipeline.makeLogger(label: "tandem.replay")
        let runtime = try AggregatorRuntime(configuration: try pipeline.loadConfiguration(), outputs: outputs.paths, stackPathStyle: outputs.stackPathStyle,
                                            logger: logger)
        // Why each file that failed did; printed last, whatever the log level, after the
        // outputs are written with everything that could be decoded.
        var failures: [String] = []
        for file in files {
            let stream = StreamPipeline(runtime: runtime, logger: logger, skippingFirst: .seconds(skipSeconds))
            var bytes = 0
            do {
                try CaptureReader.read(path: file) {
                    bytes += $0.count
                    try stream.consume($0)
                }
                // An empty or cut capture fails the replay, after what it held was used.
                try stream.endOfInput()
                stream.finish(error: nil)
            } catch {
                stream.finish(error: error)
                failures.append(IncompleteCapture(path: file, bytes: bytes, error: error).map { "\($0)" } ?? "\(file): \(error)")
            }
        }
        let exporters = try runtime.shutdown()
        for (id, statistics) in exporters.sorted(by: { $0.key < $1.key })
        where statistics.dropped > 0 || statistics.rejected > 0 {
            logger.warning("exporter \(id): \(statistics)")
        }
        if !failures.isEmpty { throw CommandFailure(failures.joined(separator: "\n")) }
    }
}
