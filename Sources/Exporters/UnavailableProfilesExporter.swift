import Logging
import Profiles
import Synchronization

/// Stands for an exporter that a `profiles` pipeline may name but that cannot deliver
/// profiles yet: it says so when made and counts every batch as dropped, so the loss
/// is in the statistics and the `done:` line rather than silent.
final class UnavailableProfilesExporter: ProfilesExporter {
    let id: String
    private let counters = Mutex(ExporterStatistics())

    init(id: String, reason: String, logger: Logger) {
        self.id = id
        logger.error("exporter `\(id)` in a profiles pipeline: \(reason); its profiles are counted as dropped",
                     metadata: ["exporter": "\(id)", "signal": "profiles"])
    }

    func export(_ batch: ProfilesBatch) {
        guard !batch.isEmpty else { return }
        counters.withLock { $0.dropped += 1 }
    }

    var statistics: ExporterStatistics { counters.withLock { $0 } }

    func shutdown(deadline: ContinuousClock.Instant) {}
}
