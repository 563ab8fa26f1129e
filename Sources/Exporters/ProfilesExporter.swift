import Profiles

/// Something that takes the profiles of a `profiles` pipeline and delivers them
/// somewhere; the profiles counterpart of ``MetricsExporter``, with the same promises:
/// `export` never blocks on the network, and every batch ends up counted in
/// ``statistics`` as sent, rejected or dropped.
public protocol ProfilesExporter: AnyObject, Sendable {
    /// The configuration id, `type[/name]` (e.g. `otlphttp/backup`).
    var id: String { get }

    /// Hands over one batch; returns at once.
    func export(_ batch: ProfilesBatch)

    /// Counters since start.
    var statistics: ExporterStatistics { get }

    /// Delivers what is queued until `deadline`, then drops (and counts) the rest and
    /// stops. Later batches are dropped and counted. Calling it twice is harmless.
    func shutdown(deadline: ContinuousClock.Instant)
}
