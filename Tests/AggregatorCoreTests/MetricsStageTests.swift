@testable import AggregatorCore
import Configuration
import Dispatch
import Foundation
import Profiles
import ProfilingMetrics
import Synchronization
import SystemCalls
import Testing

/// The metrics connector on a thread of its own: the same metrics as on the stream's
/// thread, every sample counted, at most `maximumQueuedSamples` waiting, and the stream's
/// thread doing the work when no thread can be started.
@Suite struct MetricsStageTests {
    static let context = MetricsStreamContext(hostName: "box", monotonicNanoseconds: 1_000_000_000,
                                              realtimeNanoseconds: 1_699_999_990_000_000_000)

    /// The time of sample `index`: 10 ms apart, from the clock reference on.
    static func time(_ index: Int) -> UInt64 { 1_000_000_000 + UInt64(index) * 10_000_000 }

    /// Sample `index`: one of 30 processes; every fourth has a kernel leaf.
    static func sample(_ index: Int) -> SymbolizedSample {
        let pid = Int32(100 + index % 30)
        let executable = "/usr/bin/p\(pid)"
        var frames = [Frame(type: .native, address: 0x2000 + UInt64(index % 13), functionName: "work\(index % 5)",
                            mappingPath: "/usr/lib/libwork.so"),
                      Frame(type: .native, address: 0x1000, functionName: "main", mappingPath: executable)]
        if index % 4 == 0 {
            frames.insert(Frame(type: .kernel, address: 0xffff_ffff_8100_0000 + UInt64(index % 7),
                                functionName: "do_sys_poll", mappingPath: "vmlinux"), at: 0)
        }
        return SymbolizedSample(timestamps: [time(index)], process: ProcessIdentity(pid: pid, comm: "p\(pid)", executablePath: executable),
                                threadID: pid, cpu: 0, frames: frames)
    }

    /// A stage exporting to a metrics file in a fresh directory, started with `startThread`.
    static func stage(log: RecordedLog, startThread: @escaping StreamServer.ThreadStarter)
        throws -> (MetricsStage, AggregatorRuntime, metrics: String) {
        let metrics = try temporaryDirectory() + "/metrics.jsonl"
        let runtime = try AggregatorRuntime(configuration: try StreamBoundsTests.configuration(metrics: metrics),
                                            outputs: OutputPaths(), logger: log.logger)
        let connector = try ProfilingMetricsConnector(settings: runtime.metricsSettings, stream: context,
                                                      batchInterval: .seconds(5))
        return (MetricsStage(connector: connector, runtime: runtime, logger: log.logger, startThread: startThread), runtime, metrics)
    }

    /// Counts `count` samples, flushing every 100 as the pipeline does (a second behind),
    /// finishes, and returns the metrics file's text and what the stage counted.
    static func run(count: Int, startThread: @escaping StreamServer.ThreadStarter, log: RecordedLog = RecordedLog())
        throws -> (lines: String, counted: MetricsStage.Snapshot) {
        let (stage, runtime, metrics) = try stage(log: log, startThread: startThread)
        for index in 0..<count {
            stage.add(sample(index))
            if index % 100 == 99, time(index) > 2_000_000_000 { stage.flush(upTo: time(index) - 1_000_000_000) }
        }
        let counted = stage.finish(at: time(count - 1))
        try runtime.shutdown()
        return (try String(contentsOfFile: metrics, encoding: .utf8), counted)
    }

    @Test("on its own thread, the metrics are those of the stream's thread, every sample counted")
    func threadedEqualsInline() throws {
        let count = 5 * MetricsStage.batchSize + 77
        let threaded = try Self.run(count: count, startThread: StreamServer.startDetachedThread)
        let log = RecordedLog()
        let inline = try Self.run(count: count, startThread: { _, _ throws(SystemCallError) in
            throw SystemCallError("pthread_create", subject: "tandem-metrics", errno: EAGAIN)
        }, log: log)
        #expect(threaded.counted.samples == Int64(count))
        #expect(inline.counted.samples == Int64(count))
        #expect(threaded.counted.heldProcesses == 0)
        // Windows of 10 s (the configuration's flush_interval) over 26 s of samples, a line each.
        #expect(threaded.lines.split(separator: "\n").count >= 3)
        #expect(threaded.lines == inline.lines)
        #expect(log.messages.withLock { $0.contains { $0.contains("no thread for the stream's metrics") && $0.contains("TasksMax=") } })
    }

    /// Waits until `condition` holds, polling; fails after 60 s instead of hanging the run.
    static func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw StageTestTimeout(what: what) }
            usleep(1_000)
        }
    }

    struct StageTestTimeout: Error { var what: String }

    /// The body a held-back stage's thread would have run.
    final class HeldBody: Sendable {
        let body = Mutex<(@Sendable () -> Void)?>(nil)
    }

    /// A test submitter's progress.
    final class Submitter: Sendable {
        let done = DispatchSemaphore(value: 0)
        private let finished = Mutex(false)
        var isFinished: Bool { finished.withLock { $0 } }

        /// Submits `count` samples to `stage` on a thread of its own.
        init(_ count: Int, to stage: MetricsStage) {
            Thread { [self] in
                for index in 0..<count { stage.add(MetricsStageTests.sample(index)) }
                stage.submitPending()
                finished.withLock { $0 = true }
                done.signal()
            }.start()
        }
    }

    /// A stage whose thread is held back until the test runs the body it was given.
    static func heldStage() throws -> (MetricsStage, AggregatorRuntime, HeldBody) {
        let held = HeldBody()
        let (stage, runtime, _) = try stage(log: RecordedLog()) { _, body throws(SystemCallError) in
            held.body.withLock { $0 = body }
        }
        return (stage, runtime, held)
    }

    @Test("a submitter waits while maximumQueuedSamples are queued or counted, and no sample is lost")
    func boundedQueue() throws {
        let (stage, runtime, held) = try Self.heldStage()
        // Full batches up to the bound, then two more and a partial one.
        let count = MetricsStage.maximumQueuedSamples + 2 * MetricsStage.batchSize + 100
        let submitter = Submitter(count, to: stage)
        // The stage's thread is held back: the submitter fills the queue to its bound and waits.
        try Self.waitUntil("the submitter waits or is done") { stage.isSubmitterWaiting || submitter.isFinished }
        #expect(!submitter.isFinished)
        #expect(stage.queuedSampleCount == MetricsStage.maximumQueuedSamples)

        let body = try #require(held.body.withLock { $0 })
        Thread { body() }.start()
        #expect(submitter.done.wait(timeout: .now() + 60) == .success)
        let counted = stage.finish(at: Self.time(count))
        try runtime.shutdown()
        #expect(counted.samples == Int64(count))
        #expect(stage.peakQueuedSamples == MetricsStage.maximumQueuedSamples)
    }

    @Test("close lets a submitter that waits for room go")
    func closeReleasesAWaitingSubmitter() throws {
        let (stage, _, _) = try Self.heldStage()
        let submitter = Submitter(MetricsStage.maximumQueuedSamples + MetricsStage.batchSize, to: stage)
        try Self.waitUntil("the submitter waits") { stage.isSubmitterWaiting }
        stage.close()
        #expect(submitter.done.wait(timeout: .now() + 60) == .success)
    }

    @Test("a stage that falls behind keeps one flush, not one per call")
    func flushesBehindEachOtherMerge() throws {
        let (stage, _, _) = try Self.heldStage()
        for index in 0..<1_000 { stage.flush(upTo: Self.time(index)) }
        #expect(stage.queuedWorkCount == 1)
        stage.add(Self.sample(0))
        stage.flush(upTo: Self.time(1_001))
        stage.flush(upTo: Self.time(1_002))
        // The samples keep their place between the flushes.
        #expect(stage.queuedWorkCount == 3)
        stage.close()
    }
}
