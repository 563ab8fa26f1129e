import Compression
import Configuration
import Logging
import Profiles

/// `otlp` (OTLP over gRPC) in a `metrics` pipeline: calls
/// `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` with each batch as an
/// `ExportMetricsServiceRequest` (the bytes of the otlphttp exporter's encoder), gzip by default.
final class OTLPGRPCExporter: MetricsExporter {
    static let method = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"

    let id: String
    private let worker: ExportWorker<Target>

    struct Target: DeliveryTarget {
        var caller: GRPCCaller
        var gzip: Bool

        func makeRequests(for batch: MetricsBatch) throws -> [EncodedRequest] {
            guard !batch.isEmpty else { return [] }
            let message = OTLPProtobuf.encode(batch)
            return [EncodedRequest(body: try GRPCMessage.frame(gzip ? try Gzip.compress(message) : message, compressed: gzip),
                                   items: 1)]
        }

        func itemCount(of request: EncodedRequest) -> Int { request.items }

        func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
            caller.attempt(request, timeout: timeout)
        }
    }

    init(id: String, settings config: ConfigMappingReader, logger: Logger) throws(ConfigurationError) {
        let settings = try OTLPGRPCSettings(reading: config)
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        let caller = GRPCCaller(url: settings.baseURL + Self.method, headers: settings.headers, client: try .forExporter(at: config),
                                caFile: settings.caFile, logger: logger, partialSuccessItems: .dataPoints)
        worker = ExportWorker(target: Target(caller: caller, gzip: settings.gzip), settings: settings.delivery,
                              logger: logger, name: id)
    }

    func export(_ batch: MetricsBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
