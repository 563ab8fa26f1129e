import Configuration
import Foundation

/// The settings of an `otlp` (OTLP over gRPC) exporter, named as the Collector's `otlp`
/// exporter names them: `endpoint` (`host:port`, or with an `http://`/`https://` scheme),
/// `tls.insecure`, `compression`, `headers`, plus the shared delivery settings.
struct OTLPGRPCSettings {
    static let keys = ["endpoint", "compression", "headers", "tls"] + DeliverySettings.keys
    static let defaultEndpoint = "localhost:4317"

    /// `http://host:port` or `https://host:port`; the method path is appended per call.
    var baseURL: String
    /// `tls.ca_file`: PEM CA certificates that replace the system's for verifying the server.
    var caFile: String?
    var gzip: Bool
    var headers: [(String, String)]
    var delivery: DeliverySettings

    init(reading config: ConfigMappingReader) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        let tls = try config.mapping("tls")
        // The Collector's other tls keys (cert_file, key_file, insecure_skip_verify...) are
        // not offered yet: refused by name rather than ignored.
        try tls.requireOnlyKeys(["insecure", "ca_file"])
        let insecure = try tls.bool("insecure")
        caFile = try tls.string("ca_file")
        let endpoint = try config.string("endpoint") ?? Self.defaultEndpoint
        let lower = endpoint.lowercased()
        let hostPort: Substring
        let plaintext: Bool
        if lower.hasPrefix("http://") {
            hostPort = endpoint.dropFirst("http://".count)
            plaintext = true
            if insecure == false {
                throw config.error(at: tls.childPath("insecure"), "`false` asks for TLS but the endpoint `\(endpoint)` is http://",
                                   fix: "write `https://` in `endpoint`, or remove `tls.insecure`")
            }
        } else if lower.hasPrefix("https://") {
            hostPort = endpoint.dropFirst("https://".count)
            plaintext = false
            if insecure == true {
                throw config.error(at: tls.childPath("insecure"), "`true` turns TLS off but the endpoint `\(endpoint)` is https://",
                                   fix: "write `http://` in `endpoint`, or remove `tls.insecure`")
            }
        } else if lower.contains("://") {
            throw config.error(at: config.childPath("endpoint"), "`\(endpoint)` has a scheme other than http:// or https://",
                               fix: "write `host:port` (e.g. `localhost:4317`), `http://host:port` or `https://host:port`")
        } else {
            hostPort = Substring(endpoint)
            // As in the Collector: TLS unless `tls.insecure: true`.
            plaintext = insecure ?? false
        }
        let authority = hostPort.hasSuffix("/") ? hostPort.dropLast() : hostPort
        guard Self.isHostAndPort(authority) else {
            throw config.error(at: config.childPath("endpoint"), "`\(endpoint)` is not `host:port`",
                               fix: "write the host and the port only, e.g. `collector:4317` or "
                                   + "`http://collector:4317`; gRPC has no path to add")
        }
        baseURL = (plaintext ? "http://" : "https://") + authority
        if let caFile {
            guard !plaintext else {
                throw config.error(at: tls.childPath("ca_file"), "is for TLS, but the endpoint `\(endpoint)` is plaintext",
                                   fix: "remove `tls.ca_file`, or use TLS (`https://`, no `tls.insecure: true`)")
            }
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw config.error(at: tls.childPath("ca_file"), "`\(caFile)` cannot be read",
                                   fix: "give the path of a readable PEM file of CA certificates")
            }
        }
        gzip = (try config.choice("compression", among: ["gzip", "none", ""]) ?? "gzip") == "gzip"
        headers = [
            ("content-type", "application/grpc"),
            // Required by gRPC: it tells proxies that the client reads trailers.
            ("te", "trailers"),
            ("user-agent", "tandem-aggregator"),
            // Responses are small; uncompressed ones can be read for their partial_success.
            ("grpc-accept-encoding", "identity"),
        ]
        if gzip { headers.append(("grpc-encoding", "gzip")) }
        for (name, value) in try config.stringMap("headers") ?? [] {
            let lowered = name.lowercased()
            guard !["content-type", "te", "grpc-encoding", "grpc-timeout", "grpc-accept-encoding"].contains(lowered) else {
                throw config.error(at: config.childPath("headers") + ".\(name)", "`\(name)` is set by the gRPC transport",
                                   fix: "remove it; use `compression` and `timeout` for what it controls")
            }
            headers.append((lowered, value))
        }
        delivery = try DeliverySettings(reading: config)
    }

    /// `host:port` (a name, an IPv4 address or a bracketed IPv6 address, and a port in 1...65535).
    private static func isHostAndPort(_ text: Substring) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return false }
        let host = text[..<colon]
        guard !host.isEmpty else { return false }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        return host.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }
    }
}
