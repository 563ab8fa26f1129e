import Profiles

/// Something that takes flushed metrics batches and delivers them somewhere.
///
/// `export` never blocks on the network: network exporters queue the batch for their
/// worker thread. Nothing is lost silently: every batch ends up counted in
/// ``statistics`` as sent, rejected or dropped.
public protocol MetricsExporter: AnyObject, Sendable {
    /// The configuration id, `type[/name]` (e.g. `otlphttp/backup`).
    var id: String { get }

    /// Hands over one batch; returns at once.
    func export(_ batch: MetricsBatch)

    /// Counters since start.
    var statistics: ExporterStatistics { get }

    /// Delivers what is queued until `deadline`, then drops (and counts) the rest and
    /// stops. Later batches are dropped and counted. Calling it twice is harmless.
    func shutdown(deadline: ContinuousClock.Instant)
}

extension MetricsExporter {
    /// ``shutdown(deadline:)`` with five seconds to flush.
    public func shutdown() {
        shutdown(deadline: .now + .seconds(5))
    }
}

/// What happened to exported data, in items. An item is what the destination
/// accepts or refuses as a unit: one document for `elasticsearch`, one request (one
/// batch) for `otlphttp`, `otlp` and `prometheusremotewrite`, one line for `file`.
public struct ExporterStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Items the destination accepted.
    public var sent: UInt64 = 0
    /// Items sent again after a retriable failure (429, 5xx, a retryable gRPC status,
    /// connection error); an item retried three times counts three.
    public var retried: UInt64 = 0
    /// Items given up without the destination refusing them: queue full (the oldest
    /// batch goes), retries exhausted, shutdown deadline reached, encoding or write failed.
    public var dropped: UInt64 = 0
    /// Items the destination refused with a non-retriable error (4xx other than 429, a
    /// non-retryable gRPC status, or a non-retriable per-item bulk error).
    public var rejected: UInt64 = 0

    public init(sent: UInt64 = 0, retried: UInt64 = 0, dropped: UInt64 = 0, rejected: UInt64 = 0) {
        self.sent = sent
        self.retried = retried
        self.dropped = dropped
        self.rejected = rejected
    }

    public var description: String { "sent=\(sent) retried=\(retried) dropped=\(dropped) rejected=\(rejected)" }
}
