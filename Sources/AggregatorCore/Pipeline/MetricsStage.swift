import Foundation
import Logging
import ProfilingMetrics
import Profiles
import SystemCalls

/// One stream's metrics connector on a thread of its own: counting the samples and
/// emitting and exporting the windows (a third of a busy stream's work, measured in
/// docs/benchmarks.md) run beside decoding and symbolizing the next samples.
///
/// The stream's thread submits samples, flushes and the finish; the stage's thread does
/// them in that order. At most `maximumQueuedSamples` wait or are being counted: beyond
/// that the submitter waits for room, so memory stays bounded when exporting falls
/// behind. A flush queued behind another, with no samples between, replaces it. When no thread
/// can be started (`EAGAIN` under `TasksMax=`), the stage does its work on the
/// submitter's thread, as the pipeline did before it had a stage.
///
/// The connector is touched by one thread at a time: the stage's thread once it runs,
/// the submitter's only in that fallback and once the stage has ended. The rest is
/// guarded by `condition`.
final class MetricsStage: @unchecked Sendable {
    /// Samples handed over at once; a consume call hands over what it has at its end.
    static let batchSize = 512
    static let maximumQueuedSamples = 64 * batchSize

    /// What the connector held and dropped, as of the last work done.
    struct Snapshot: Sendable {
        /// Samples counted.
        var samples: Int64 = 0
        /// Processes held for the open windows.
        var heldProcesses = 0
        /// Samples dropped at `max_processes_per_window`.
        var droppedSamples: Int64 = 0
    }

    private enum Work {
        case samples([SymbolizedSample])
        case flush(upTo: UInt64)
        case finish(at: UInt64)
    }

    /// Let go of by `finish` on the submitter's thread, before the pipeline trims the heap.
    private var connector: ProfilingMetricsConnector?
    private let runtime: AggregatorRuntime
    private let logger: Logger
    /// The stage's thread's: connector drops already logged.
    private var reportedWindowDrops: Int64 = 0
    /// The submitter's: samples not handed over yet.
    private var pending: [SymbolizedSample] = []
    /// Work is done on the submitter's thread (no thread could be started).
    private var inline = false

    private let condition = NSCondition()
    private var queue: [Work] = []
    /// Samples queued or being counted.
    private var queuedSamples = 0
    /// The most samples queued or being counted at once: `peakQueuedSamples`.
    private var peak = 0
    /// The submitter is waiting for room (tests look).
    private var submitterWaiting = false
    /// The stage's thread is doing work it took from `queue`.
    private var working = false
    /// The stage did its finish, or its thread ended after `close`.
    private var ended = false
    private var closed = false
    private var snapshot = Snapshot()
    /// Work the stage's thread has done, let go of by the submitter. The samples' memory
    /// was allocated on the submitter's thread: freed there, it goes back to that
    /// thread's glibc arena without the two threads contending for the arena's lock
    /// (futex calls of that contention were 3.7 % of a large-host replay's CPU samples).
    private var spent: [[Work]] = []

    /// Starts the stage's thread with `startThread` (tests hold it back).
    init(connector: ProfilingMetricsConnector, runtime: AggregatorRuntime, logger: Logger,
         startThread: StreamServer.ThreadStarter = StreamServer.startDetachedThread) {
        self.connector = connector
        self.runtime = runtime
        self.logger = logger
        pending.reserveCapacity(Self.batchSize)
        do {
            try startThread("tandem-metrics") { [self] in run() }
        } catch {
            inline = true
            logger.warning("no thread for the stream's metrics (\(error)): they are counted on the stream's own thread; raise the unit's TasksMax= if this repeats")
        }
    }

    // MARK: The submitter's side

    /// Counts `sample` in the metrics (handed over in batches).
    func add(_ sample: SymbolizedSample) {
        pending.append(sample)
        if pending.count >= Self.batchSize { submitPending() }
    }

    /// Hands over the samples added since the last hand-over: the end of a read's bytes,
    /// so that a live stream's samples do not wait for a full batch.
    func submitPending() {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        submit(.samples(batch), samples: batch.count)
    }

    /// Exports the windows that end at or before `streamTime`, after every sample added before.
    func flush(upTo streamTime: UInt64) {
        submitPending()
        submit(.flush(upTo: streamTime), samples: 0)
    }

    /// Exports every window (the last ones end at `streamTime`), waits until that is done,
    /// and ends the stage's thread.
    func finish(at streamTime: UInt64) -> Snapshot {
        submitPending()
        submit(.finish(at: streamTime), samples: 0)
        let counted = snapshot(waitingUntil: { false })
        // The stage's thread touches it no more: its windows and caches are freed here,
        // on the thread that trims the heap next.
        connector = nil
        return counted
    }

    /// Samples queued or being counted.
    var queuedSampleCount: Int { condition.withLock { queuedSamples } }

    /// Pieces of work queued: samples batches, flushes and the finish.
    var queuedWorkCount: Int { condition.withLock { queue.count } }

    /// Whether the submitter waits for room.
    var isSubmitterWaiting: Bool { condition.withLock { submitterWaiting } }

    /// The most samples queued or being counted at once (never above `maximumQueuedSamples`).
    var peakQueuedSamples: Int { condition.withLock { peak } }

    /// What the connector holds once the work submitted so far is done.
    func waitUntilIdle() -> Snapshot {
        submitPending()
        return snapshot(waitingUntil: { queue.isEmpty && !working })
    }

    /// The snapshot once `done` holds (called with the lock held) or the stage has ended;
    /// lets go of the spent work on the way.
    private func snapshot(waitingUntil done: () -> Bool) -> Snapshot {
        condition.lock()
        while !done() && !ended { condition.wait() }
        let (counted, spentWork) = (snapshot, takeSpent())
        condition.unlock()
        _ = consume spentWork
        return counted
    }

    /// Ends the stage's thread once the work queued so far is done, without a finish: the
    /// open windows are not exported (a pipeline let go of without finishing its stream).
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    private func submit(_ work: Work, samples: Int) {
        if inline {
            let finished = perform(work)
            condition.lock()
            snapshot = currentSnapshot()
            if finished { ended = true }
            condition.unlock()
            return
        }
        condition.lock()
        while queuedSamples > 0, queuedSamples + samples > Self.maximumQueuedSamples, !ended, !closed {
            submitterWaiting = true
            condition.wait()
        }
        submitterWaiting = false
        if !ended, !closed {
            if case .flush = work, case .flush? = queue.last {
                // Nothing between them: the later flush does what both would.
                queue[queue.count - 1] = work
            } else {
                queue.append(work)
            }
            queuedSamples += samples
            peak = max(peak, queuedSamples)
            condition.broadcast()
        }
        let done = takeSpent()
        condition.unlock()
        // Freed here, on this thread, outside the lock.
        _ = consume done
    }

    /// The spent work, to be let go of after unlocking; call with the lock held.
    private func takeSpent() -> [[Work]] {
        defer { spent = [] }
        return spent
    }

    // MARK: The stage's thread

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty {
                ended = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let work = queue
            queue.removeAll()
            working = true
            condition.broadcast()
            condition.unlock()

            var finished = false
            for item in work where !finished {
                finished = perform(item)
            }

            condition.lock()
            for item in work { if case .samples(let samples) = item { queuedSamples -= samples.count } }
            spent.append(work)
            working = false
            snapshot = currentSnapshot()
            if finished { ended = true }
            condition.broadcast()
            condition.unlock()
            if finished { return }
        }
    }

    /// Does one piece of work; true for the finish.
    private func perform(_ work: Work) -> Bool {
        guard let connector else { return true }
        switch work {
        case .samples(let samples):
            connector.add(samples)
            return false
        case .flush(let streamTime):
            let batch = connector.flush(upTo: streamTime)
            runtime.export(batch, kernelSamples: connector.takeEmittedKernelSamples())
            // Drops are reported with the window they happened in, when it is emitted.
            if !batch.isEmpty { noteWindowDrops(connector) }
            return false
        case .finish(let streamTime):
            runtime.export(connector.finish(at: streamTime), kernelSamples: connector.takeEmittedKernelSamples())
            noteWindowDrops(connector)
            return true
        }
    }

    private func currentSnapshot() -> Snapshot {
        guard let connector else { return snapshot }
        return Snapshot(samples: connector.statistics.samples, heldProcesses: connector.heldProcesses,
                        droppedSamples: connector.statistics.droppedSamples)
    }

    /// Logs the samples dropped at `max_processes_per_window` since the last report:
    /// once per emitted window that dropped some.
    private func noteWindowDrops(_ connector: ProfilingMetricsConnector) {
        let dropped = connector.statistics.droppedSamples
        guard dropped > reportedWindowDrops else { return }
        let limit = connector.settings.maxProcessesPerWindow
        logger.warning("connectors.profilingmetrics.max_processes_per_window (\(limit)) reached: \(dropped - reportedWindowDrops) samples of processes beyond it were dropped from the metrics (\(dropped) in this stream); raise max_processes_per_window if this host runs more processes per window")
        reportedWindowDrops = dropped
    }
}
