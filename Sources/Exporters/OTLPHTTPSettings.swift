import Configuration

/// The settings of an `otlphttp` exporter for one signal: the Collector's keys, with
/// `<signal>_endpoint` taking precedence over `endpoint` + the signal's path.
struct OTLPHTTPSettings {
    enum Encoding: String { case protobuf = "proto", json }

    /// Every key `exporters.otlphttp` accepts, whichever signal reads it.
    static let keys = ["endpoint", "metrics_endpoint", "profiles_endpoint", "encoding", "compression", "headers"]
        + DeliverySettings.keys

    var url: String
    var encoding: Encoding
    var gzip: Bool
    var headers: [(String, String)]
    var delivery: DeliverySettings

    /// - Parameters:
    ///   - signalEndpointKey: e.g. `metrics_endpoint`.
    ///   - signalPath: appended to `endpoint`, e.g. `/v1/metrics`.
    init(reading config: ConfigMappingReader, signalEndpointKey: String, signalPath: String) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        if let signalEndpoint = try config.string(signalEndpointKey) {
            try checkHTTPURL(signalEndpoint, key: signalEndpointKey, in: config)
            url = signalEndpoint
        } else if let endpoint = try config.string("endpoint") {
            try checkHTTPURL(endpoint, key: "endpoint", in: config)
            url = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + signalPath
        } else {
            throw config.error(at: config.path, "no `endpoint` (or `\(signalEndpointKey)`) is set",
                               fix: "add e.g. `endpoint: http://localhost:4318`")
        }
        encoding = Encoding(rawValue: try config.choice("encoding", among: ["proto", "json"]) ?? "proto")!
        gzip = (try config.choice("compression", among: ["gzip", "none", ""]) ?? "gzip") == "gzip"
        headers = [
            ("Content-Type", encoding == .protobuf ? "application/x-protobuf" : "application/json"),
            ("User-Agent", "tandem-aggregator"),
        ]
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        headers += try config.stringMap("headers")?.map { ($0.name, $0.value) } ?? []
        delivery = try DeliverySettings(reading: config)
    }
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
