import Configuration
import Foundation
import Logging
import Profiles

/// `elasticsearch` in a `metrics` pipeline: indexes documents in the `otel` mapping mode
/// shape (see ``ElasticsearchDocumentBuilder``) through the bulk API, delivered by
/// ``ElasticsearchBulkTarget``.
final class ElasticsearchExporter: MetricsExporter {
    let id: String
    private let worker: ExportWorker<ElasticsearchBulkTarget<MetricsBatch>>

    /// Every key of an `elasticsearch` exporter, for either signal: one exporter
    /// definition may serve a metrics and a profiles pipeline.
    static let keys = ["endpoint", "endpoints", "api_key", "user", "password", "headers", "compression", "metrics_dynamic_index",
                       "namespace", "dataset", "mapping"] + DeliverySettings.keys

    /// - Parameter isDefined: false when a pipeline names the exporter but `exporters` does
    ///   not define it (its defaults apply, and the log says so).
    init(id: String, settings config: ConfigMappingReader, isDefined: Bool, logger: Logger,
         environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        try config.requireOnlyKeys(Self.keys)
        let connection = try ElasticsearchConnection(reading: config, id: id, isDefined: isDefined, logger: logger,
                                                     environment: environment)
        var builder = ElasticsearchDocumentBuilder()
        let dynamicIndex = try config.mapping("metrics_dynamic_index")
        try dynamicIndex.requireOnlyKeys(["enabled"])
        if let enabled = try dynamicIndex.bool("enabled") { builder.dynamicIndex = enabled }
        if let namespace = try config.string("namespace") { builder.namespace = namespace }
        if let dataset = try config.string("dataset") { builder.dataset = dataset }
        let mapping = try config.mapping("mapping")
        try mapping.requireOnlyKeys(["mode"])
        _ = try mapping.choice("mode", among: ["otel"])

        let settings = try DeliverySettings(reading: config)
        self.id = id
        let documents = builder
        let target = ElasticsearchBulkTarget<MetricsBatch>(
            connection: connection, client: try .forExporter(at: config), logger: logger,
            encode: { documents.items(for: $0) },
            unencodedItems: { max(1, $0.resourceMetrics.count) })
        worker = ExportWorker(target: target, settings: settings, logger: logger, name: id)
    }

    func export(_ batch: MetricsBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
