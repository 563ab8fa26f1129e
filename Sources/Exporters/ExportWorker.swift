import Foundation
import Logging
import Profiles
import SystemCalls

/// How one destination is reached: encoding a batch into requests and making one
/// attempt at delivering a request. The ``ExportWorker`` does the queueing and retrying.
protocol DeliveryTarget: Sendable {
    /// What the exporter is handed: a ``MetricsBatch`` or a ``ProfilesBatch``.
    associatedtype Batch: Sendable
    associatedtype Request: Sendable

    /// Encodes a batch (on the caller's thread). Throwing drops the batch, counted.
    func makeRequests(for batch: Batch) throws -> [Request]

    /// The items counted as dropped when `batch` cannot be encoded.
    func itemCount(ofUnencoded batch: Batch) -> Int

    /// The number of items (see ``ExporterStatistics``) in a request.
    func itemCount(of request: Request) -> Int

    /// The memory a queued request holds, for the queue's byte bound.
    func byteCount(of request: Request) -> Int

    /// One attempt, on the worker thread. Rejected items are logged by the target.
    func attempt(_ request: Request, timeout: Duration) -> DeliveryOutcome<Request>
}

extension DeliveryTarget where Request == EncodedRequest {
    func byteCount(of request: EncodedRequest) -> Int { request.body.count }
}

extension DeliveryTarget where Request == BulkRequest {
    func byteCount(of request: BulkRequest) -> Int {
        request.items.reduce(0) { $0 + $1.action.count + $1.document.count }
    }
}

extension DeliveryTarget where Batch == MetricsBatch {
    func itemCount(ofUnencoded batch: MetricsBatch) -> Int { max(1, batch.resourceMetrics.count) }
}

/// The result of one delivery attempt.
enum DeliveryOutcome<Request> {
    /// Nothing left to do: `sent` items were accepted and `rejected` refused for good.
    case finished(sent: Int, rejected: Int)
    /// Some items (`remaining`) failed in a way worth retrying; the others are settled.
    case retry(remaining: Request, sent: Int, rejected: Int, retryAfter: Duration?, reason: String)
}

/// Queueing and retry settings, read from the Collector-shaped keys `timeout`,
/// `sending_queue` and `retry_on_failure`.
public struct DeliverySettings: Sendable, Hashable {
    /// Per-request timeout (`timeout`, default 5s).
    public var timeout: Duration = .seconds(5)
    /// Queued requests (`sending_queue.queue_size`, default 100); when full the oldest goes.
    public var queueSize: Int = 100
    /// The most bytes the queued requests may hold; past it the oldest go, as past
    /// `queueSize`. Not a configuration key: it keeps a down endpoint from growing the
    /// aggregator by `queueSize` times its largest request (an Elasticsearch bulk request
    /// of profiles is up to 5 MiB of documents, 100 of them 500 MiB).
    public var queueBytes: Int = 64 << 20
    /// `retry_on_failure.enabled`, default true.
    public var retryEnabled = true
    /// First backoff (`retry_on_failure.initial_interval`, default 5s).
    public var initialInterval: Duration = .seconds(5)
    /// Longest backoff (`max_interval`, default 30s). A server's `Retry-After` may ask for
    /// longer; it is honoured as long as it fits in `max_elapsed_time`.
    public var maxInterval: Duration = .seconds(30)
    /// Give up on a request after this long (`max_elapsed_time`, default 300s).
    public var maxElapsedTime: Duration = .seconds(300)
    /// Backoff growth per attempt (`multiplier`, default 1.5).
    public var multiplier: Double = 1.5
    /// Jitter: each backoff is scaled by a random factor in 1 ± this (`randomization_factor`, default 0.5).
    public var randomizationFactor: Double = 0.5

    public init() {}

    /// The backoff before retry number `retry` (1-based), with jitter.
    func backoff(retry: Int) -> Duration {
        let base = initialInterval.seconds * pow(multiplier, Double(retry - 1))
        let capped = min(base, maxInterval.seconds)
        let jitter = randomizationFactor > 0 ? Double.random(in: (1 - randomizationFactor)...(1 + randomizationFactor)) : 1
        return .seconds(min(capped * jitter, maxInterval.seconds))
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// One background thread that delivers queued requests in order, with retries.
///
/// All mutable state is guarded by `condition` (an `NSCondition`, also used to wake the
/// thread for new work, shutdown, or the end of a backoff wait); that is what makes the
/// `@unchecked Sendable` sound.
final class ExportWorker<Target: DeliveryTarget>: @unchecked Sendable {
    private let target: Target
    private let settings: DeliverySettings
    private let logger: Logger
    private let condition = NSCondition()

    // Guarded by `condition`.
    private var queue: [Target.Request] = []
    private var queueHead = 0
    /// `target.byteCount` of the requests in `queue[queueHead...]`.
    private var queuedBytes = 0
    private var stopping = false
    private var deadline: ContinuousClock.Instant?
    private var finished = false
    /// No thread could be started: every batch is dropped (counted) at `enqueue`.
    private var threadRefused = false
    private var counters = ExporterStatistics()
    /// Items of the request being delivered (0 between requests).
    private var inFlightItems = 0
    /// `shutdown` gave up waiting and counted what was left as dropped: the thread's
    /// later outcomes are not counted again.
    private var abandoned = false

    /// A run of requests dropped because the server asked (`Retry-After`) to wait longer
    /// than `max_elapsed_time`: logged when it starts and, with its count, when it ends,
    /// instead of once per request. Only the worker thread touches it.
    private var retryAfterEpisode: (requests: Int, items: Int, retryAfter: Duration, reason: String)?

    /// Starts the worker's thread. If the kernel refuses one (`TasksMax=`, `RLIMIT_NPROC`),
    /// the exporter says so once and counts every batch as dropped, rather than queue
    /// them for a thread that never comes; the other exporters go on.
    init(target: Target, settings: DeliverySettings, logger: Logger, name: String) {
        self.target = target
        self.settings = settings
        self.logger = logger
        do {
            try DetachedThread.start(name: "tandem-export-\(name)") { [self] in run() }
        } catch {
            threadRefused = true
            stopping = true
            finished = true
            logger.error("""
                exporter has no thread to deliver with: its batches are dropped and counted; \
                raise the service's TasksMax= (or RLIMIT_NPROC) and restart
                """, metadata: ["error": "\(error)"])
        }
    }

    var statistics: ExporterStatistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    /// Encodes on the caller's thread and queues; drops the oldest request when full.
    func enqueue(_ batch: Target.Batch) {
        let requests: [Target.Request]
        do {
            requests = try target.makeRequests(for: batch)
        } catch {
            logger.error("cannot encode a batch; dropping it", metadata: ["error": "\(error)"])
            update { $0.dropped += UInt64(target.itemCount(ofUnencoded: batch)) }
            return
        }
        condition.lock()
        defer { condition.unlock() }
        if stopping {
            let items = requests.reduce(0) { $0 + target.itemCount(of: $1) }
            counters.dropped += UInt64(items)
            if !threadRefused {
                logger.warning("exporter is shut down; dropping a batch", metadata: ["items": "\(items)"])
            }
            return
        }
        for request in requests {
            let bytes = target.byteCount(of: request)
            while queueHead < queue.count
                    && (queue.count - queueHead >= settings.queueSize || queuedBytes + bytes > settings.queueBytes) {
                let oldest = queue[queueHead]
                queueHead += 1
                queuedBytes -= target.byteCount(of: oldest)
                let items = target.itemCount(of: oldest)
                counters.dropped += UInt64(items)
                logger.warning("export queue full; dropping the oldest request",
                               metadata: ["queue_size": "\(settings.queueSize)", "queue_bytes": "\(settings.queueBytes)",
                                          "items": "\(items)"])
            }
            queue.append(request)
            queuedBytes += bytes
        }
        compactQueue()
        condition.signal()
    }

    /// Flushes until `deadline`, then stops the thread (waiting at most one more second
    /// for a request already on the wire).
    func shutdown(deadline: ContinuousClock.Instant) {
        condition.lock()
        defer { condition.unlock() }
        if !stopping {
            stopping = true
            self.deadline = deadline
            condition.broadcast()
        }
        let wallDeadline = Date(timeIntervalSinceNow: (ContinuousClock.now.duration(to: deadline) + .seconds(1)).seconds)
        while !finished {
            if !condition.wait(until: wallDeadline) { break }
        }
        if !finished, !abandoned {
            // A request still on the wire (an endpoint that does not answer within the
            // timeout) and whatever waits behind it: counted now, since the caller reports now.
            let items = inFlightItems + queue[queueHead...].reduce(0) { $0 + target.itemCount(of: $1) }
            abandoned = true
            counters.dropped += UInt64(items)
            queue.removeAll()
            queueHead = 0
            queuedBytes = 0
            logger.error("exporter did not stop by its shutdown deadline; dropping its in-flight and queued data",
                         metadata: ["items": "\(items)"])
        }
    }

    /// Counts an outcome; `inFlight`, when given, is what is still being delivered after it.
    private func update(inFlight: Int? = nil, _ body: (inout ExporterStatistics) -> Void) {
        condition.lock()
        if !abandoned { body(&counters) }
        if let inFlight { inFlightItems = inFlight }
        condition.unlock()
    }

    private func compactQueue() {
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    /// The next request, or nil once stopping with an empty queue.
    private func next() -> Target.Request? {
        condition.lock()
        defer { condition.unlock() }
        while queueHead == queue.count && !stopping {
            condition.wait()
        }
        guard queueHead < queue.count else { return nil }
        if let deadline, ContinuousClock.now >= deadline {
            // Past the shutdown deadline: everything still queued is dropped.
            let items = queue[queueHead...].reduce(0) { $0 + target.itemCount(of: $1) }
            counters.dropped += UInt64(items)
            logger.error("shutdown deadline reached; dropping queued data", metadata: ["items": "\(items)"])
            queue.removeAll()
            queueHead = 0
            queuedBytes = 0
            return nil
        }
        let request = queue[queueHead]
        queueHead += 1
        queuedBytes -= target.byteCount(of: request)
        compactQueue()
        inFlightItems = target.itemCount(of: request)
        return request
    }

    private func run() {
        while let request = next() {
            deliver(request)
        }
        endRetryAfterEpisode()
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The time left before the shutdown deadline, if shutting down.
    private func timeLeft() -> Duration? {
        condition.lock()
        defer { condition.unlock() }
        return deadline.map { ContinuousClock.now.duration(to: $0) }
    }

    private func deliver(_ first: Target.Request) {
        var request = first
        var retries = 0
        let start = ContinuousClock.now
        while true {
            var timeout = settings.timeout
            if let left = timeLeft() {
                guard left > .zero else {
                    drop(request, reason: "shutdown deadline reached")
                    return
                }
                timeout = min(timeout, left)
            }
            switch target.attempt(request, timeout: timeout) {
            case .finished(let sent, let rejected):
                endRetryAfterEpisode()
                update(inFlight: 0) {
                    $0.sent += UInt64(sent)
                    $0.rejected += UInt64(rejected)
                }
                return
            case .retry(let remaining, let sent, let rejected, let retryAfter, let reason):
                update(inFlight: target.itemCount(of: remaining)) {
                    $0.sent += UInt64(sent)
                    $0.rejected += UInt64(rejected)
                }
                guard settings.retryEnabled else {
                    drop(remaining, reason: "\(reason) (retry_on_failure disabled)")
                    return
                }
                retries += 1
                // A server's Retry-After wins over a shorter backoff; max_elapsed_time caps both.
                let backoff = settings.backoff(retry: retries)
                let delay = retryAfter.map { max($0, backoff) } ?? backoff
                if start.duration(to: .now) + delay > settings.maxElapsedTime {
                    if let retryAfter, retryAfter > backoff {
                        dropInRetryAfterEpisode(remaining, retryAfter: retryAfter, reason: reason)
                        return
                    }
                    endRetryAfterEpisode()
                    drop(remaining, reason: "\(reason); giving up after \(retries - 1) retries (max_elapsed_time)")
                    return
                }
                endRetryAfterEpisode()
                if let left = timeLeft(), delay >= left {
                    drop(remaining, reason: "\(reason); no time left before the shutdown deadline")
                    return
                }
                let items = target.itemCount(of: remaining)
                logger.warning("export failed; retrying", metadata: [
                    "reason": "\(reason)", "items": "\(items)", "retry": "\(retries)",
                    "delay_seconds": "\(delay.seconds)",
                ])
                update { $0.retried += UInt64(items) }
                sleep(for: delay)
                request = remaining
            }
        }
    }

    /// Drops a request the server asked to retry only after `retryAfter`, beyond
    /// `max_elapsed_time`; counted like any drop, logged once per episode.
    private func dropInRetryAfterEpisode(_ request: Target.Request, retryAfter: Duration, reason: String) {
        let items = target.itemCount(of: request)
        update { $0.dropped += UInt64(items) }
        if var episode = retryAfterEpisode {
            episode.requests += 1
            episode.items += items
            episode.retryAfter = max(episode.retryAfter, retryAfter)
            episode.reason = reason
            retryAfterEpisode = episode
            return
        }
        retryAfterEpisode = (1, items, retryAfter, reason)
        logger.error("""
            the server asks to retry after \(retryAfter.seconds)s, longer than retry_on_failure.max_elapsed_time             (\(settings.maxElapsedTime.seconds)s); dropping requests until it accepts one again (their number             is logged then); raise max_elapsed_time to wait instead
            """, metadata: ["reason": "\(reason)", "items": "\(items)"])
    }

    /// Logs the count of an episode's dropped requests, if one is under way, and ends it.
    private func endRetryAfterEpisode() {
        guard let episode = retryAfterEpisode else { return }
        retryAfterEpisode = nil
        logger.error("export failed; dropped \(episode.requests) requests while the server asked to retry after longer than max_elapsed_time", metadata: [
            "requests": "\(episode.requests)", "items": "\(episode.items)",
            "longest_retry_after_seconds": "\(episode.retryAfter.seconds)", "last_reason": "\(episode.reason)",
        ])
    }

    private func drop(_ request: Target.Request, reason: String) {
        let items = target.itemCount(of: request)
        logger.error("export failed; dropping data", metadata: ["reason": "\(reason)", "items": "\(items)"])
        update(inFlight: 0) { $0.dropped += UInt64(items) }
    }

    /// Waits `delay`, waking early only when a shutdown deadline comes before its end.
    private func sleep(for delay: Duration) {
        let end = ContinuousClock.now + delay
        condition.lock()
        defer { condition.unlock() }
        while ContinuousClock.now < end {
            var wake = end
            if let deadline, deadline < wake { wake = deadline }
            if ContinuousClock.now >= wake { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: ContinuousClock.now.duration(to: wake).seconds))
        }
    }
}
