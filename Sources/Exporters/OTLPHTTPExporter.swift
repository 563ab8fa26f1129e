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
        var encoding: Encoding
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

    enum Encoding: String { case protobuf = "proto", json }

    static let keys = ["endpoint", "metrics_endpoint", "encoding", "compression", "headers"] + DeliverySettings.keys

    init(id: String, settings config: ConfigMappingReader, logger: Logger) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        let url: String
        if let metricsEndpoint = try config.string("metrics_endpoint") {
            try checkHTTPURL(metricsEndpoint, key: "metrics_endpoint", in: config)
            url = metricsEndpoint
        } else if let endpoint = try config.string("endpoint") {
            try checkHTTPURL(endpoint, key: "endpoint", in: config)
            url = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/metrics"
        } else {
            throw config.error(at: config.path, "no `endpoint` (or `metrics_endpoint`) is set",
                               fix: "add e.g. `endpoint: http://localhost:4318`")
        }
        let encoding = Encoding(rawValue: try config.choice("encoding", among: ["proto", "json"]) ?? "proto")!
        let gzip = (try config.choice("compression", among: ["gzip", "none", ""]) ?? "gzip") == "gzip"
        var headers: [(String, String)] = [
            ("Content-Type", encoding == .protobuf ? "application/x-protobuf" : "application/json"),
            ("User-Agent", "tandem-aggregator"),
        ]
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        headers += try config.stringMap("headers")?.map { ($0.name, $0.value) } ?? []
        let settings = try DeliverySettings(reading: config)
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        let poster = HTTPPoster(url: url, headers: headers, client: HTTPClient(), logger: logger, checkPartialSuccess: true)
        worker = ExportWorker(target: Target(poster: poster, encoding: encoding, gzip: gzip),
                              settings: settings, logger: logger, name: id)
    }

    func export(_ batch: MetricsBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}

/// Fails unless `url`, the value of `key` (e.g. `endpoint`, `endpoints[1]`) in
/// `config`, is an absolute http or https URL.
func checkHTTPURL(_ url: String, key: String, in config: ConfigMappingReader) throws(ConfigurationError) {
    let lower = url.lowercased()
    guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > "http://".count else {
        throw config.error(at: config.childPath(key), "`\(url)` is not an http:// or https:// URL",
                           fix: "write the scheme, host and port, e.g. `http://localhost:4318`")
    }
}
