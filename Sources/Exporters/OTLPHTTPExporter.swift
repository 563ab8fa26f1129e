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

    init(id: String, node: ConfigNode?, logger: Logger) throws(ConfigurationError) {
        let config = try ConfigReader(path: "exporters.\(id)", node: node)
        try config.requireOnly(Self.keys)
        let url: String
        if let metricsEndpoint = try config.string("metrics_endpoint") {
            url = metricsEndpoint
        } else if let endpoint = try config.string("endpoint") {
            url = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/metrics"
        } else {
            throw ConfigurationError(path: "exporters.\(id)", problem: "no `endpoint` (or `metrics_endpoint`) is set",
                                     fix: "add e.g. `endpoint: http://localhost:4318`")
        }
        try checkHTTPURL(url, path: "exporters.\(id).endpoint")
        let encoding = Encoding(rawValue: try config.choice("encoding", ["proto", "json"]) ?? "proto")!
        let gzip = (try config.choice("compression", ["gzip", "none", ""]) ?? "gzip") == "gzip"
        var headers: [(String, String)] = [
            ("Content-Type", encoding == .protobuf ? "application/x-protobuf" : "application/json"),
            ("User-Agent", "tandem-aggregator"),
        ]
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        headers += try config.stringMap("headers") ?? []
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

/// Fails unless `url` is an absolute http or https URL.
func checkHTTPURL(_ url: String, path: String) throws(ConfigurationError) {
    let lower = url.lowercased()
    guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > "http://".count else {
        throw ConfigurationError(path: path, problem: "`\(url)` is not an http:// or https:// URL",
                                 fix: "write the scheme, host and port, e.g. `http://localhost:4318`")
    }
}
