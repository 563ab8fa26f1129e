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

    @Test("a submitter waits while maximumQueuedSamples wait, and no sample is lost")
    func boundedQueue() throws {
        let held = Mutex<(@Sendable () -> Void)?>(nil)
        let (stage, runtime, _) = try Self.stage(log: RecordedLog()) { _, body throws(SystemCallError) in
            held.withLock { $0 = body }
        }
        let count = MetricsStage.maximumQueuedSamples + 2 * MetricsStage.batchSize
        let submitted = DispatchSemaphore(value: 0)
        Thread {
            for index in 0..<count { stage.add(Self.sample(index)) }
            stage.submitPending()
            submitted.signal()
        }.start()
        // The stage's thread is held back: the queue fills to its bound and no further.
        while stage.queuedSampleCount < MetricsStage.maximumQueuedSamples { usleep(1_000) }
        #expect(submitted.wait(timeout: .now()) == .timedOut)
        #expect(stage.queuedSampleCount == MetricsStage.maximumQueuedSamples)

        let body = try #require(held.withLock { $0 })
        Thread { body() }.start()
        submitted.wait()
        let counted = stage.finish(at: Self.time(count))
        try runtime.shutdown()
        #expect(counted.samples == Int64(count))
        #expect(stage.peakQueuedSamples == MetricsStage.maximumQueuedSamples)
    }
}
