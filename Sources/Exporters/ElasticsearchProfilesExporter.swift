import Configuration
import Foundation
import Logging
import Profiles
import Synchronization

/// `elasticsearch` in a `profiles` pipeline: writes Elastic's Universal Profiling indices
/// (``UniversalProfilingDocuments``) through the same bulk delivery as the metrics
/// (``ElasticsearchBulkTarget``): queue, retries of 429/5xx items, per-item results.
/// Its statistics count documents. Off-CPU samples are not written: the Universal Profiling
/// indices hold CPU samples only (Elastic's exporter refuses any other sample type), so they
/// are counted in `offCPUSamplesSkipped` and logged once at shutdown.
final class ElasticsearchProfilesExporter: ProfilesExporter {
    let id: String
    let documents: UniversalProfilingDocuments
    private let worker: ExportWorker<ElasticsearchBulkTarget<ProfilesBatch>>
    private let logger: Logger
    private let skipped = Atomic<UInt64>(0)

    /// Off-CPU samples of the batches handed over, not written (see above).
    var offCPUSamplesSkipped: UInt64 { skipped.load(ordering: .relaxed) }

    /// Reads the same keys as the metrics exporter (one definition may serve both
    /// pipelines); the metrics-only ones (`namespace`, `dataset`, ...) do not apply here.
    init(id: String, settings config: ConfigMappingReader, isDefined: Bool, logger: Logger,
         documents: UniversalProfilingDocuments? = nil,
         environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        logger[metadataKey: "signal"] = "profiles"
        try config.requireOnlyKeys(ElasticsearchExporter.keys)
        let connection = try ElasticsearchConnection(reading: config, id: id, isDefined: isDefined, logger: logger,
                                                     environment: environment)
        let settings = try DeliverySettings(reading: config)
        self.id = id
        self.logger = logger
        // A document on its way is not written again until it is settled, or until its
        // request can no longer be under way (then it is written again: a repeat, not a loss).
        let documents = documents ?? UniversalProfilingDocuments(
            pendingLifetime: settings.maxElapsedTime + settings.timeout * 2)
        self.documents = documents
        let target = ElasticsearchBulkTarget<ProfilesBatch>(
            connection: connection, client: try .forExporter(at: config), logger: logger,
            encode: { documents.items(for: $0) },
            // A batch that cannot be encoded counts as one dropped item, as for other profiles exporters.
            unencodedItems: { _ in 1 },
            settled: { documents.settled($0, accepted: $1) })
        worker = ExportWorker(target: target, settings: settings, logger: logger, name: id)
    }

    func export(_ batch: ProfilesBatch) {
        if !batch.offCPUSamples.isEmpty {
            skipped.add(UInt64(batch.offCPUSamples.count), ordering: .relaxed)
        }
        guard !batch.samples.isEmpty else { return }
        var onCPU = batch
        onCPU.offCPUSamples = []
        worker.enqueue(onCPU)
    }

    var statistics: ExporterStatistics { worker.statistics }

    func shutdown(deadline: ContinuousClock.Instant) {
        worker.shutdown(deadline: deadline)
        let skipped = offCPUSamplesSkipped
        if skipped > 0 {
            logger.notice("\(skipped) off-CPU samples were not written: the Universal Profiling indices hold on-CPU samples only; send them to an OTLP profiles exporter")
        }
    }
}
