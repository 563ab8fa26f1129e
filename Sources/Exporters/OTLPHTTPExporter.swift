import Compression
import Configuration
import Logging
import Profiles

/// `otlphttp`: POSTs each batch as an OTLP `ExportMetricsServiceRequest` to
/// `<endpoint>/v1/metrics` (or `metrics_endpoint`), protobuf or JSON, gzip by default.
final class OTLPHTTPExporter: MetricsExporter {
    let id: String
    private let worker: ExportWorker<Target>

    struct Target: DeliveryTarget {
        var poster: HTTPPoster
        var encoding: OTLPHTTPSettings.Encoding
        var gzip: Bool

        func makeRequests(for batch: MetricsBatch) throws -> [EncodedRequest] {
            guard !batch.isEmpty else { return [] }
            let body = encoding == .protobuf ? OTLPProtobuf.encode(batch) : OTLPJSON.encode(batch)
            return [EncodedRequest(body: gzip ? try Gzip.compress(body) : body, items: 1)]
        }

        func itemCount(of request: EncodedRequest) -> Int { request.items }

        func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
            poster.attempt(request, timeout: timeout)
        }
    }

    init(id: String, settings config: ConfigMappingReader, logger: Logger) throws(ConfigurationError) {
        let settings = try OTLPHTTPSettings(reading: config, signalEndpointKey: "metrics_endpoint", signalPath: "/v1/metrics")
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        let poster = HTTPPoster(url: settings.url, headers: settings.headers, client: try .forExporter(at: config), logger: logger,
                                partialSuccessItems: .dataPoints)
        worker = ExportWorker(target: Target(poster: poster, encoding: settings.encoding, gzip: settings.gzip),
                              settings: settings.delivery, logger: logger, name: id)
    }

    func export(_ batch: MetricsBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
