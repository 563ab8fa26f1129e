import Compression
import Configuration
import Foundation
import Testing

@testable import Exporters

/// The `otlp` exporter against a real gRPC server: grpcio serving the MetricsService and
/// ProfilesService with the official opentelemetry-proto classes (Tests/Peers/otlp_grpc_peer.py).
@Suite("otlp (gRPC) exporter against the grpcio peer")
struct OTLPGRPCTests {
    static let metricsPath = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
    static let profilesPath = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"

    /// What one run left: the requests the peer decoded and accepted, per service, and the
    /// exporter's counters.
    struct Run {
        var metrics: [[String: Any]]
        var profiles: [[String: Any]]
        var statistics: ExporterStatistics
    }

    /// Starts the peer with `script`, exports one batch of `signal` through an `otlp`
    /// exporter made from `settings` (endpoint added), shuts down and collects what arrived.
    private func run(signal: String, _ settings: [(String, ConfigNode)] = [], script: [String] = [], batches: Int = 1,
                     capture: LogCapture = LogCapture()) throws -> Run {
        try requirePython(module: "grpc", install: "pip install grpcio==1.85.1")
        try requirePython(module: "opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2_grpc",
                          install: "pip install opentelemetry-proto==1.45.2")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let profilesDump = directory.appendingPathComponent("profiles.jsonl")
        let metricsDump = directory.appendingPathComponent("metrics.jsonl")
        let (peer, port) = try startPeer("otlp_grpc_peer.py", ["serve", profilesDump.path, metricsDump.path]
            + (script.isEmpty ? [] : ["--script", script.joined(separator: ",")]))
        defer { peer.stop() }
        let node = ConfigNode.mapping([ConfigEntry(key: "endpoint", value: .scalar("http://127.0.0.1:\(port)"))]
            + settings.map { ConfigEntry(key: $0.0, value: $0.1) })
        let statistics: ExporterStatistics
        if signal == "metrics" {
            let exporter = try ExporterFactory.make(id: "otlp/test", node: node, logger: capture.logger())
            for _ in 0..<batches { exporter.export(sampleBatch(userCount: 11)) }
            exporter.shutdown(deadline: .now + .seconds(20))
            statistics = exporter.statistics
        } else {
            let exporter = try ExporterFactory.makeProfiles(id: "otlp/test", node: node, scopeVersion: "test",
                                                            logger: capture.logger())
            for _ in 0..<batches { exporter.export(sampleProfilesBatch()) }
            exporter.shutdown(deadline: .now + .seconds(20))
            statistics = exporter.statistics
        }
        return Run(metrics: try readJSONLines(metricsDump), profiles: try readJSONLines(profilesDump),
                   statistics: statistics)
    }

    @Test("metrics decode with the official classes, gzip on and off", arguments: ["gzip", "none"])
    func metricsDecode(compression: String) throws {
        let run = try run(signal: "metrics", [("compression", .scalar(compression)),
                                              ("headers", mapping(("X-Tenant", "blue")))])
        #expect(run.statistics == ExporterStatistics(sent: 1))
        #expect(run.profiles.isEmpty)
        let record = try #require(run.metrics.first)
        #expect(run.metrics.count == 1)
        #expect(record["path"] as? String == Self.metricsPath)
        #expect((record["metadata"] as? [String: Any])?["x-tenant"] as? String == "blue")
        // The same bytes as otlphttp's encoder: grpcio decoded exactly that message.
        #expect(record["bytes"] as? Int == OTLPProtobuf.encode(sampleBatch(userCount: 11)).count)
        let request = try #require(record["request"] as? [String: Any])
        let metrics = try #require((((request["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"]
            as? [[String: Any]])?.first?["metrics"]) as? [[String: Any]])
        let user = try #require(metrics.first { $0["name"] as? String == "samples.user.count" })
        let points = try #require((user["sum"] as? [String: Any])?["dataPoints"] as? [[String: Any]])
        #expect(points.first?["asInt"] as? String == "11")
    }

    @Test("profiles decode with the official classes, gzip on and off", arguments: ["gzip", "none"])
    func profilesDecode(compression: String) throws {
        let run = try run(signal: "profiles", [("compression", .scalar(compression))])
        #expect(run.statistics == ExporterStatistics(sent: 1))
        let record = try #require(run.profiles.first)
        #expect(run.profiles.count == 1)
        #expect(record["path"] as? String == Self.profilesPath)
        #expect(record["bytes"] as? Int == (try OTLPProfiles.encodeProtobuf(sampleProfilesBatch(), scopeVersion: "test")).count)
        let request = try #require(record["request"] as? [String: Any])
        let strings = try #require((request["dictionary"] as? [String: Any])?["stringTable"] as? [String])
        #expect(strings.contains("main"))
        #expect(strings.contains("tcp_sendmsg"))
    }

    @Test("successive requests on one exporter all arrive, after an error status too",
          arguments: ["metrics", "profiles"])
    func successiveRequests(signal: String) throws {
        let capture = LogCapture()
        let run = try run(signal: signal, script: ["ok", "ok", "invalid_argument", "ok", "ok"], batches: 5, capture: capture)
        #expect(run.statistics == ExporterStatistics(sent: 4, rejected: 1), "\(capture.messages)")
        #expect((signal == "metrics" ? run.metrics : run.profiles).count == 4)
    }

    @Test("UNAVAILABLE is retried and the request delivered exactly once")
    func unavailableIsRetried() throws {
        let capture = LogCapture()
        let run = try run(signal: "profiles", [("retry_on_failure", fastRetry)], script: ["unavailable"], capture: capture)
        #expect(run.statistics == ExporterStatistics(sent: 1, retried: 1), "\(capture.messages.prefix(4))")
        #expect(run.profiles.count == 1)
        #expect(capture.messages.contains { $0.contains("retrying") && $0.contains("UNAVAILABLE: injected unavailable") })
    }

    @Test("INVALID_ARGUMENT is counted rejected and logged with the decoded message")
    func invalidArgumentIsRejected() throws {
        let capture = LogCapture()
        let run = try run(signal: "metrics", [("retry_on_failure", fastRetry)], script: ["invalid_argument"], capture: capture)
        #expect(run.statistics == ExporterStatistics(rejected: 1))
        #expect(run.metrics.isEmpty)
        #expect(capture.messages.contains {
            $0.contains("grpc_status=INVALID_ARGUMENT") && $0.contains("message=injected: bad data 100% é")
        })
    }

    @Test("RESOURCE_EXHAUSTED without RetryInfo is not retried, as OTLP/gRPC says")
    func resourceExhaustedWithoutRetryInfo() throws {
        let capture = LogCapture()
        let run = try run(signal: "metrics", [("retry_on_failure", fastRetry)], script: ["resource_exhausted"],
                          capture: capture)
        #expect(run.statistics == ExporterStatistics(rejected: 1))
        #expect(capture.messages.contains { $0.contains("grpc_status=RESOURCE_EXHAUSTED") && $0.contains("RetryInfo") })
    }

    @Test("RESOURCE_EXHAUSTED with a RetryInfo (grpcio-status) is retried")
    func resourceExhaustedWithRetryInfo() throws {
        try requirePython(module: "grpc_status.rpc_status", install: "pip install grpcio-status==1.85.1")
        let capture = LogCapture()
        let run = try run(signal: "metrics", [("retry_on_failure", fastRetry)], script: ["retry_info"], capture: capture)
        #expect(run.statistics == ExporterStatistics(sent: 1, retried: 1), "\(capture.messages)")
        #expect(run.metrics.count == 1)
        // The backoff is 10 ms (fastRetry); the 20 ms asked for by the RetryInfo wins.
        #expect(capture.messages.contains {
            $0.contains("RESOURCE_EXHAUSTED: injected: come back soon") && $0.contains("delay_seconds=0.02 ")
        })
    }

    @Test("a partial success counts as sent and logs the rejected items", arguments: ["metrics", "profiles"])
    func partialSuccess(signal: String) throws {
        let capture = LogCapture()
        let run = try run(signal: signal, script: ["partial:3"], capture: capture)
        #expect(run.statistics == ExporterStatistics(sent: 1))
        let key = signal == "metrics" ? "rejected_data_points=3" : "rejected_profiles=3"
        #expect(capture.messages.contains { $0.contains(key) && $0.contains("injected partial rejection") })
    }

    @Test("a server that never answers ends in a counted drop at the timeout, not a stall")
    func hangingServerIsDropped() throws {
        let capture = LogCapture()
        let run = try run(signal: "profiles", [("timeout", "300ms"), ("retry_on_failure", mapping(("enabled", "false")))],
                          script: ["hang"], capture: capture)
        #expect(run.statistics == ExporterStatistics(dropped: 1))
        #expect(run.profiles.isEmpty)
        #expect(capture.messages.contains { $0.contains("dropping data") && $0.contains("CURLcode 28") })
    }

    @Test("an answer longer than the bound is cut, and its missing status is named as the cause")
    func hugeResponseIsCut() throws {
        let capture = LogCapture()
        let run = try run(signal: "metrics", script: ["huge"], capture: capture)
        // The status came after the body that was not read: not counted as sent, not retried.
        #expect(run.statistics == ExporterStatistics(rejected: 1))
        #expect(capture.messages.contains {
            $0.contains("no grpc-status") && $0.contains("longer than the 65536 bytes the exporter reads")
        })
    }

    @Test("HTTPClient over h2c: an answer's status in its trailers, an error's in a trailers-only answer's headers")
    func trailersAndTrailersOnly() throws {
        try requirePython(module: "grpc", install: "pip install grpcio==1.85.1")
        let (peer, port) = try startPeer("otlp_grpc_peer.py", ["serve", "-", "-", "--script", "ok,invalid_argument"])
        defer { peer.stop() }
        let client = try HTTPClient()
        let url = "http://127.0.0.1:\(port)\(Self.metricsPath)"
        let headers = [("content-type", "application/grpc"), ("te", "trailers")]
        let emptyRequest = try GRPCMessage.frame([], compressed: false)
        let ok = try client.post(url: url, headers: headers, body: emptyRequest, timeout: .seconds(10), version: .http2)
        #expect(ok.status == 200)
        #expect(ok.headers["grpc-status"] == nil)
        #expect(ok.trailers["grpc-status"] == "0")
        #expect(ok.body == emptyRequest)  // an empty ExportMetricsServiceResponse, framed
        let refused = try client.post(url: url, headers: headers, body: emptyRequest, timeout: .seconds(10), version: .http2)
        #expect(refused.trailers.isEmpty)
        #expect(refused.headers["grpc-status"] == "3")
        #expect(GRPCStatus(refused)?.message == "injected: bad data 100% é")
    }

    @Test("TLS with ALPN h2: verified against tls.ca_file; refused without it")
    func tls() throws {
        try requirePython(module: "grpc", install: "pip install grpcio==1.85.1")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = try ChildProcess("/usr/bin/env", [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        openssl.process.waitUntilExit()
        try #require(openssl.process.terminationStatus == 0)
        let dump = directory.appendingPathComponent("metrics.jsonl")
        let (peer, port) = try startPeer("otlp_grpc_peer.py", ["serve", "-", dump.path, "--tls", cert, key])
        defer { peer.stop() }
        for trusted in [true, false] {
            let capture = LogCapture()
            let node = mapping(("endpoint", .scalar("https://127.0.0.1:\(port)")),
                               ("tls", trusted ? mapping(("ca_file", .scalar(cert))) : mapping()),
                               ("retry_on_failure", mapping(("enabled", "false"))))
            let exporter = try ExporterFactory.make(id: "otlp", node: node, logger: capture.logger())
            exporter.export(sampleBatch(userCount: 11))
            exporter.shutdown(deadline: .now + .seconds(20))
            if trusted {
                #expect(exporter.statistics == ExporterStatistics(sent: 1), "\(capture.messages)")
            } else {
                #expect(exporter.statistics == ExporterStatistics(dropped: 1))
                #expect(capture.messages.contains { $0.contains("dropping data") && $0.contains("certificate") })
            }
        }
        #expect(try readJSONLines(dump).count == 1)
    }

    @Test("a listener that never speaks (no HTTP/2 settings at all) ends in a counted drop at the timeout")
    func silentListenerIsDropped() throws {
        // A socket that listens and never accepts: the kernel completes the TCP handshake,
        // nothing ever answers the HTTP/2 preface.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 4) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        try #require(listening)
        let capture = LogCapture()
        let exporter = try ExporterFactory.makeProfiles(
            id: "otlp", node: mapping(("endpoint", .scalar("http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))")),
                                      ("timeout", "300ms"), ("retry_on_failure", mapping(("enabled", "false")))),
            scopeVersion: "test", logger: capture.logger())
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(exporter.statistics == ExporterStatistics(dropped: 1))
        #expect(capture.messages.contains { $0.contains("dropping data") && $0.contains("CURLcode 28") })
    }

    @Test("an HTTP/1.1 server (an OTLP/HTTP port) is a transport error, not a hang or a success")
    func notAGRPCServer() throws {
        try requirePython(module: "opentelemetry.proto", install: "pip install opentelemetry-proto==1.45.2")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (peer, port) = try startPeer("otlp_peer.py", ["serve", directory.appendingPathComponent("dump.jsonl").path])
        defer { peer.stop() }
        let capture = LogCapture()
        let exporter = try ExporterFactory.make(
            id: "otlp", node: mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")), ("timeout", "60s"),
                                      ("retry_on_failure", mapping(("enabled", "false")))),
            logger: capture.logger())
        exporter.export(sampleBatch())
        // The peer answers at once (or closes while the preface is still being written:
        // then curl reports a send failure); a long timeout keeps a loaded machine's slow answer from
        // turning into a timeout, which is a different error (CURLcode 28).
        exporter.shutdown(deadline: .now + .seconds(90))
        #expect(exporter.statistics == ExporterStatistics(dropped: 1))
        #expect(capture.messages.contains { $0.contains("dropping data") && $0.contains("speak HTTP/2 as gRPC needs") },
                "\(capture.messages)")
    }
}

@Suite("gRPC framing, status and settings")
struct GRPCUnitTests {
    @Test("a gzip request is flagged compressed and its length prefix covers the gzip member")
    func framing() throws {
        let message: [UInt8] = Array("hello hello hello hello".utf8)
        let compressed = try Gzip.compress(message)
        let framed = try GRPCMessage.frame(compressed, compressed: true)
        #expect(framed[0] == 1)
        #expect(Array(framed[1...4]) == [0, 0, 0, UInt8(compressed.count)])
        let first = try #require(GRPCMessage.first(in: framed))
        #expect(first.compressed)
        #expect(Array(first.message) == compressed)
        #expect(try GRPCMessage.frame(message, compressed: false)[0] == 0)
        // A prefix that promises more than the body holds is no message.
        #expect(GRPCMessage.first(in: [0, 0, 0, 0, 9, 1, 2]) == nil)
        #expect(GRPCMessage.first(in: []) == nil)
    }

    @Test("the status comes from the trailers, else from a trailers-only response's headers")
    func statusSources() throws {
        let trailers = HTTPResponse(status: 200, headers: ["content-type": "application/grpc"],
                                    trailers: ["grpc-status": "0", "grpc-message": ""], body: [])
        #expect(GRPCStatus(trailers)?.code == .ok)
        let headersOnly = HTTPResponse(status: 200, headers: ["grpc-status": "14", "grpc-message": "down%20for%20now"], body: [])
        #expect(GRPCStatus(headersOnly) == GRPCStatus(code: .unavailable, message: "down for now"))
        #expect(GRPCStatus(HTTPResponse(status: 503, headers: [:], body: [])) == nil)
        #expect(GRPCStatus(HTTPResponse(status: 200, headers: ["grpc-status": "x"], body: [])) == nil)
        let long = HTTPResponse(status: 200, headers: ["grpc-status": "13", "grpc-message": String(repeating: "%41", count: 5000)],
                                body: [])
        #expect(GRPCStatus(long)?.message == String(repeating: "A", count: 512) + "…")
        // A malformed escape stays as it came; UTF-8 escapes decode.
        #expect(GRPCStatus.percentDecoded("100%zz %C3%A9 50%") == "100%zz é 50%")
    }

    @Test("retryable codes follow OTLP/gRPC; RESOURCE_EXHAUSTED only with a RetryInfo")
    func retryability() throws {
        for code in [1, 4, 10, 11, 14, 15] { #expect(GRPCStatus(code: GRPCStatusCode(rawValue: code)).isRetryable) }
        for code in [2, 3, 5, 6, 7, 8, 9, 12, 13, 16] { #expect(!GRPCStatus(code: GRPCStatusCode(rawValue: code)).isRetryable) }
        #expect(GRPCStatus(code: .resourceExhausted, retryDelay: .seconds(1)).isRetryable)
        #expect("\(GRPCStatusCode(rawValue: 3))" == "INVALID_ARGUMENT")
        #expect("\(GRPCStatusCode(rawValue: 99))" == "status 99")
    }

    /// google.rpc.Status{code: 8, details: [Any{RetryInfo{retry_delay: {seconds: 2, nanos: 500000000}}}]}.
    static func statusWithRetryInfo() -> [UInt8] {
        let typeURL = Array(GRPCStatus.retryInfoTypeURL.utf8)
        let duration: [UInt8] = [0x08, 0x02, 0x10] + [0x80, 0xCA, 0xB5, 0xEE, 0x01] // seconds 2, nanos 5e8
        let retryInfo: [UInt8] = [0x0A, UInt8(duration.count)] + duration
        let any: [UInt8] = [0x0A, UInt8(typeURL.count)] + typeURL + [0x12, UInt8(retryInfo.count)] + retryInfo
        return [0x08, 0x08, 0x1A, UInt8(any.count)] + any
    }

    @Test("a RetryInfo in grpc-status-details-bin gives the retry delay, padded or not")
    func retryInfo() throws {
        let encoded = Data(Self.statusWithRetryInfo()).base64EncodedString()
        let unpadded = String(encoded.prefix { $0 != "=" })
        for text in [encoded, unpadded] {
            let response = HTTPResponse(status: 200, headers: [:], trailers: [
                "grpc-status": "8", "grpc-status-details-bin": text,
            ], body: [])
            let status = try #require(GRPCStatus(response))
            #expect(status.retryDelay == .milliseconds(2500))
            #expect(status.isRetryable)
        }
        #expect(GRPCStatus.retryDelay(statusDetails: "not base64!") == nil)
        #expect(GRPCStatus.retryDelay(statusDetails: Data([0x08, 0x08]).base64EncodedString()) == nil)
    }

    private func settingsError(_ node: ConfigNode) -> ConfigurationError? {
        do {
            _ = try OTLPGRPCSettings(reading: ConfigMappingReader(node, path: "exporters.otlp"))
            return nil
        } catch {
            return error
        }
    }

    @Test("endpoints: host:port means TLS unless tls.insecure, schemes decide, paths are refused")
    func endpoints() throws {
        func url(_ node: ConfigNode) throws -> String {
            try OTLPGRPCSettings(reading: ConfigMappingReader(node, path: "exporters.otlp")).baseURL
        }
        #expect(try url(mapping()) == "https://localhost:4317")
        #expect(try url(mapping(("endpoint", "collector:4317"), ("tls", mapping(("insecure", "true"))))) == "http://collector:4317")
        #expect(try url(mapping(("endpoint", "http://[::1]:4317/"))) == "http://[::1]:4317")
        #expect(try url(mapping(("endpoint", "https://collector:4317"))) == "https://collector:4317")

        let path = try #require(settingsError(mapping(("endpoint", "http://collector:4317/v1/metrics"))))
        #expect(path.path == "exporters.otlp.endpoint")
        #expect(path.problem.contains("is not `host:port`"))
        #expect(settingsError(mapping(("endpoint", "collector"))) != nil)
        #expect(settingsError(mapping(("endpoint", "grpc://collector:4317")))?.problem.contains("scheme") == true)
        let conflict = try #require(settingsError(mapping(("endpoint", "https://c:4317"), ("tls", mapping(("insecure", "true"))))))
        #expect(conflict.path == "exporters.otlp.tls.insecure")
        let tlsKey = try #require(settingsError(mapping(("tls", mapping(("insecure_skip_verify", "true"))))))
        #expect(tlsKey.path.hasPrefix("exporters.otlp.tls"))
        let caFile = try #require(settingsError(mapping(("tls", mapping(("ca_file", "/nonexistent/ca.pem"))))))
        #expect(caFile.path == "exporters.otlp.tls.ca_file")
        #expect(caFile.problem.contains("cannot be read"))
        let plaintextCA = try #require(settingsError(mapping(("endpoint", "http://c:4317"),
                                                             ("tls", mapping(("ca_file", "/etc/hostname"))))))
        #expect(plaintextCA.problem.contains("plaintext"))
        let header = try #require(settingsError(mapping(("headers", mapping(("grpc-timeout", "1S"))))))
        #expect(header.problem.contains("set by the gRPC transport"))
        #expect(settingsError(mapping(("compression", "zstd")))?.path == "exporters.otlp.compression")
        #expect(settingsError(mapping(("encoding", "json")))?.path == "exporters.otlp.encoding")
    }

    @Test("grpc-timeout keeps to 8 digits by choosing its unit")
    func timeoutHeader() {
        #expect(GRPCCaller.timeoutValue(.seconds(5)) == "5000m")
        #expect(GRPCCaller.timeoutValue(.microseconds(1500)) == "2m")
        #expect(GRPCCaller.timeoutValue(.seconds(99_999)) == "99999000m")
        #expect(GRPCCaller.timeoutValue(.seconds(100_000)) == "100000S")
        #expect(GRPCCaller.timeoutValue(.seconds(86_400 * 365 * 1000)) == "8760000H")
        #expect(GRPCCaller.timeoutValue(.seconds(Int64.max)) == "99999999H")
    }

    @Test("gzip adds grpc-encoding; none does not")
    func headers() throws {
        let gzip = try OTLPGRPCSettings(reading: ConfigMappingReader(mapping(), path: "exporters.otlp"))
        #expect(gzip.gzip)
        #expect(gzip.headers.contains { $0 == ("grpc-encoding", "gzip") })
        #expect(gzip.headers.contains { $0 == ("te", "trailers") })
        let none = try OTLPGRPCSettings(reading: ConfigMappingReader(mapping(("compression", "none")), path: "exporters.otlp"))
        #expect(!none.gzip)
        #expect(!none.headers.contains { $0.0 == "grpc-encoding" })
    }
}
