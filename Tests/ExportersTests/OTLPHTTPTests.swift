import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

@Suite("otlphttp exporter against the opentelemetry-proto peer")
struct OTLPHTTPTests {
    /// Starts the peer, exports `batches` through an exporter made from `settings`
    /// (endpoint added), shuts down, and returns the peer's dump and the statistics.
    private func run(_ settings: [(String, ConfigNode)], peerArguments: [String] = [], batches: [MetricsBatch],
                     capture: LogCapture = LogCapture()) throws -> ([[String: Any]], ExporterStatistics) {
        try requirePython(module: "opentelemetry.proto", install: "pip install opentelemetry-proto")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("requests.jsonl")
        let (peer, port) = try startPeer("otlp_peer.py", ["serve", dump.path] + peerArguments)
        defer { peer.stop() }
        let node = ConfigNode.mapping([ConfigEntry(key: "endpoint", value: .scalar("http://127.0.0.1:\(port)"))]
            + settings.map { ConfigEntry(key: $0.0, value: $0.1) })
        let exporter = try ExporterFactory.make(id: "otlphttp/test", node: node, logger: capture.logger())
        for batch in batches { exporter.export(batch) }
        exporter.shutdown(deadline: .now + .seconds(20))
        return (try readJSONLines(dump), exporter.statistics)
    }

    private func points(_ record: [String: Any], metric name: String) throws -> [[String: Any]] {
        let request = try #require(record["request"] as? [String: Any])
        let scope = try #require(((request["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?.first)
        let metric = try #require((scope["metrics"] as? [[String: Any]])?.first { $0["name"] as? String == name })
        let data = try #require((metric["sum"] ?? metric["gauge"]) as? [String: Any])
        return try #require(data["dataPoints"] as? [[String: Any]])
    }

    @Test("protobuf with gzip (the defaults) arrives intact at /v1/metrics")
    func protobufGzip() throws {
        let (records, statistics) = try run([], batches: [sampleBatch(userCount: 11), sampleBatch(userCount: 12)])
        #expect(statistics == ExporterStatistics(sent: 2))
        try #require(records.count == 2)
        for record in records {
            #expect(record["path"] as? String == "/v1/metrics")
            #expect(record["content_type"] as? String == "application/x-protobuf")
            #expect(record["content_encoding"] as? String == "gzip")
        }
        #expect(try points(records[0], metric: "samples.user.count").first?["asInt"] as? String == "11")
        #expect(try points(records[1], metric: "samples.user.count").first?["asInt"] as? String == "12")
        let request = try #require(records[0]["request"] as? [String: Any])
        let sum = try #require(((((request["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?
            .first?["metrics"] as? [[String: Any]])?.first)?["sum"] as? [String: Any])
        #expect(sum["aggregationTemporality"] as? String == "AGGREGATION_TEMPORALITY_DELTA")
        #expect(sum["isMonotonic"] as? Bool == true)
        let native = try points(records[0], metric: "samples.native.count")
        let shlib = ((native.first?["attributes"] as? [[String: Any]])?.first?["value"] as? [String: Any])?["stringValue"]
        #expect(shlib as? String == "libc.so.6")
    }

    @Test("JSON without compression, custom metrics_endpoint and headers")
    func jsonUncompressed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try requirePython(module: "opentelemetry.proto", install: "pip install opentelemetry-proto")
        let dump = directory.appendingPathComponent("requests.jsonl")
        let (peer, port) = try startPeer("otlp_peer.py", ["serve", dump.path])
        defer { peer.stop() }
        let node = mapping(("metrics_endpoint", .scalar("http://127.0.0.1:\(port)/custom/metrics")),
                           ("encoding", "json"), ("compression", "none"), ("headers", mapping(("X-Tenant", "blue"))))
        let exporter = try ExporterFactory.make(id: "otlphttp", node: node, logger: LogCapture().logger())
        exporter.export(sampleBatch(userCount: 5))
        exporter.shutdown()
        let records = try readJSONLines(dump)
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        try #require(records.count == 1)
        #expect(records[0]["path"] as? String == "/custom/metrics")
        #expect(records[0]["content_type"] as? String == "application/json")
        #expect(records[0]["content_encoding"] as? String == "")
        #expect(try points(records[0], metric: "samples.user.count").first?["asInt"] as? String == "5")
        #expect(try points(records[0], metric: "samples.frame_type").first?["asInt"] as? String == "-3")
    }

    @Test("503 is retried with backoff until the peer accepts")
    func retriesServiceUnavailable() throws {
        let capture = LogCapture()
        let (records, statistics) = try run([("retry_on_failure", fastRetry)],
                                            peerArguments: ["--fail-first", "2", "--fail-status", "503"],
                                            batches: [sampleBatch()], capture: capture)
        #expect(statistics == ExporterStatistics(sent: 1, retried: 2))
        #expect(records.count == 1)
        #expect(capture.messages.contains { $0.contains("retrying") && $0.contains("503") })
    }

    @Test("400 is not retried: counted as rejected and logged with the server's message")
    func rejectsBadRequest() throws {
        let capture = LogCapture()
        let (records, statistics) = try run([("retry_on_failure", fastRetry)],
                                            peerArguments: ["--fail-first", "1", "--fail-status", "400"],
                                            batches: [sampleBatch()], capture: capture)
        #expect(statistics == ExporterStatistics(rejected: 1))
        #expect(records.isEmpty)
        #expect(capture.messages.contains { $0.contains("refused") && $0.contains("status=400") && $0.contains("injected failure") })
    }

    @Test("a partial_success in the response is logged with the rejected count", arguments: ["proto", "json"])
    func partialSuccess(encoding: String) throws {
        let capture = LogCapture()
        let (records, statistics) = try run([("encoding", .scalar(encoding))], peerArguments: ["--partial-reject", "3"],
                                            batches: [sampleBatch()], capture: capture)
        #expect(statistics == ExporterStatistics(sent: 1))
        #expect(records.count == 1)
        #expect(capture.messages.contains {
            $0.contains("refused some data points") && $0.contains("rejected_data_points=3") && $0.contains("injected partial rejection")
        })
    }
}
