import AggregatorCore
import Configuration
import Foundation
import Logging
import Testing

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Where this test process's temporary directories go: removed, with all of them, when
/// the process exits (one place to clean, not a `defer` at each of the tests).
let temporaryDirectoriesRoot: String = {
    let root = NSTemporaryDirectory() + "tandem-aggregator-tests-\(getpid())"
    atexit { try? FileManager.default.removeItem(atPath: temporaryDirectoriesRoot) }
    return root
}()

/// A fresh temporary directory for one test, under `temporaryDirectoriesRoot`.
func temporaryDirectory() throws -> String {
    let path = temporaryDirectoriesRoot + "/" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Replays `bytes` as one stream and returns the summary and the metrics file.
func replay(_ bytes: [UInt8], configuration: CollectorConfiguration, outputs: OutputPaths,
            chunkSize: Int = 4096, skippingFirst skipped: Duration = .zero) throws -> RunSummary {
    let runtime = try AggregatorRuntime(configuration: configuration, outputs: outputs, logger: quietLogger)
    let stream = StreamPipeline(runtime: runtime, logger: quietLogger, skippingFirst: skipped)
    var error: (any Error)?
    do {
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + chunkSize)
            try stream.consume(bytes[index..<end])
            index = end
        }
    } catch let caught {
        error = caught
    }
    stream.finish(error: error)
    try runtime.shutdown()
    if let error { throw error }
    return runtime.summary
}

@Suite struct ReplayTests {
    @Test func metricsOfASyntheticStreamFollowTheRules() throws {
        let directory = try temporaryDirectory()
        let outputs = OutputPaths(metrics: directory + "/metrics.jsonl", folded: directory + "/stacks.folded",
                                  report: directory + "/report.txt")
        let summary = try replay(SyntheticStream.bytes(), configuration: DefaultConfiguration.load(path: nil),
                                 outputs: outputs)
        #expect(summary.samples == 100)
        #expect(summary.samplerDrops["drops_ring_buffer_full"] == 3)

        let metrics = try MetricsLines(path: directory + "/metrics.jsonl")
        #expect(metrics.total("samples.user.count") == 50)
        #expect(metrics.total("samples.kernel.count") == 50)
        #expect(metrics.sums["samples.kernel.count{kernel_area=network,kernel_io=write,kernel_proto=tcp,syscall_name=write}"] == 30)
        #expect(metrics.sums["samples.kernel.count{kernel_area=synchronization,syscall_name=futex}"] == 20)
        // The main executable is not a shared library: no shlib_name.
        #expect(metrics.sums["samples.native.count{}"] == 50)
        #expect(metrics.resourceAttributes.allSatisfy { $0["host.name"] == "replay-host" && $0["process.pid"] == "4242" })

        let folded = try String(contentsOfFile: directory + "/stacks.folded", encoding: .utf8)
        #expect(folded.contains("entry_SYSCALL_64;__x64_sys_write;tcp_sendmsg;_raw_spin_unlock 30"))
        let report = try String(contentsOfFile: directory + "/report.txt", encoding: .utf8)
        #expect(report.contains("network/tcp/write (write)"))
    }

    /// `replay --skip-seconds`: the samples of a run's first seconds, counted from the
    /// sampler's start where the header has it and from the stream's start otherwise, are
    /// in no output and counted as skipped. The synthetic stream takes a sample every
    /// 10 ms from its start: its 30 TCP samples in the first 300 ms, then 20 futex and 50
    /// user-only ones.
    @Test(arguments: [(UInt64(0), Duration.milliseconds(305)), (UInt64(800_000_000), .milliseconds(505))])
    func skippedSecondsLeaveTheFirstSamplesOut(samplerStart: UInt64, skipped: Duration) throws {
        var header = SyntheticStream.header
        header.samplerStartTime = samplerStart
        let directory = try temporaryDirectory()
        let summary = try replay(SyntheticStream.bytes(header: header), configuration: DefaultConfiguration.load(path: nil),
                                 outputs: OutputPaths(metrics: directory + "/metrics.jsonl", folded: directory + "/stacks.folded"),
                                 skippingFirst: skipped)
        #expect(summary.samples == 100)
        #expect(summary.skippedSamples == 30)
        let metrics = try MetricsLines(path: directory + "/metrics.jsonl")
        #expect(metrics.total("samples.kernel.count") == 20)
        #expect(metrics.total("samples.user.count") == 50)
        let folded = try String(contentsOfFile: directory + "/stacks.folded", encoding: .utf8)
        #expect(!folded.contains("tcp_sendmsg"))
        #expect(folded.contains("futex_wait 20"))
    }

    @Test func replayIsDeterministicWhateverTheChunkSize() throws {
        let bytes = SyntheticStream.bytes()
        var outputs: [String] = []
        for chunk in [1, 7, 1 << 20] {
            let directory = try temporaryDirectory()
            _ = try replay(bytes, configuration: DefaultConfiguration.load(path: nil),
                           outputs: OutputPaths(metrics: directory + "/metrics.jsonl"), chunkSize: chunk)
            outputs.append(try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8))
        }
        #expect(!outputs[0].isEmpty)
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }

    @Test func aMalformedStreamKeepsWhatCameBeforeTheError() throws {
        var bytes = SyntheticStream.bytes(endOfStream: false)
        bytes += [0x03, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]  // a sample with an undefined thread id
        let directory = try temporaryDirectory()
        let outputs = OutputPaths(metrics: directory + "/metrics.jsonl")
        #expect(throws: (any Error).self) {
            _ = try replay(bytes, configuration: DefaultConfiguration.load(path: nil), outputs: outputs)
        }
        let metrics = try MetricsLines(path: directory + "/metrics.jsonl")
        #expect(metrics.total("samples.user.count") + metrics.total("samples.kernel.count") == 100)
    }

    /// A connection stuck in a call, or still open when the shutdown wait ends, never
    /// finishes: the samples it decoded are reported as lost, not left out without a number.
    @Test func samplesOfAnUnfinishedStreamAreReportedAsLost() throws {
        let directory = try temporaryDirectory()
        let runtime = try AggregatorRuntime(configuration: DefaultConfiguration.load(path: nil),
                                            outputs: OutputPaths(metrics: directory + "/metrics.jsonl"), logger: quietLogger)
        let finished = StreamPipeline(runtime: runtime, logger: quietLogger)
        let unfinished = StreamPipeline(runtime: runtime, logger: quietLogger)
        try finished.consume(SyntheticStream.bytes()[...])
        try unfinished.consume(SyntheticStream.bytes(endOfStream: false)[...])
        #expect(runtime.progressDescription.hasPrefix("samples received 200 (200 on 2 open streams)"), "\(runtime.progressDescription)")
        finished.finish(error: nil)
        try runtime.shutdown()
        let summary = runtime.summary
        #expect(summary.samples == 100)
        #expect(summary.unfinishedStreams == 1 && summary.unfinishedSamples == 100)
        #expect(summary.description.contains("lost: 100 samples of 1 unfinished streams"), "\(summary.description)")
        // Both streams' headers leave their sampler run unnamed: each counts its own 3.
        #expect(runtime.progressDescription.contains("drops_ring_buffer_full=6"), "\(runtime.progressDescription)")
        unfinished.finish(error: nil)
        #expect(runtime.summary.samples == 200 && runtime.summary.unfinishedStreams == 0)
    }

    @Test func theSeedConfigurationDrivesTheGauges() throws {
        let seed = """
            connectors:
              profilingmetrics:
                by_frame: true
                by_frametype: true
                by_classification: true
            receivers:
              profiling:
                SamplesPerSecond: 19
            exporters:
              file:
                path: METRICS
            service:
              pipelines:
                profiles:
                  receivers: [ profiling ]
                  exporters: [ profilingmetrics ]
                metrics:
                  receivers: [ profilingmetrics ]
                  exporters: [ file ]
            """
        let directory = try temporaryDirectory()
        let configuration = try CollectorConfiguration(yaml: seed.replacingOccurrences(of: "METRICS", with: directory + "/m.jsonl"))
        _ = try replay(SyntheticStream.bytes(), configuration: configuration, outputs: OutputPaths())
        let metrics = try MetricsLines(path: directory + "/m.jsonl")
        // by_frametype: +1 per frame: 30 x 6 + 20 x 5 + 50 x 2 frames.
        #expect(metrics.total("samples.frame_type") == 30 * 6 + 20 * 5 + 50 * 2)
        let kernelFrames: Int64 = metrics.sums["samples.frame_type{frame_type=kernel,profile.type_unit=samples_count}"] ?? -1
        #expect(kernelFrames == 30 * 4 + 20 * 3)
    }
}
