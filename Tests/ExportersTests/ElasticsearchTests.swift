import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

@Suite("elasticsearch exporter")
struct ElasticsearchTests {
    /// Exports `batches` to the fault-injecting bulk stub playing `scenario`; returns the
    /// requests the stub saw and the exporter's statistics after shutdown.
    private func run(scenario: String, settings: [(String, ConfigNode)] = [], batches: [MetricsBatch] = [sampleBatch()],
                     capture: LogCapture = LogCapture()) throws -> ([[String: Any]], ExporterStatistics) {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, scenario])
        defer { stub.stop() }
        let node = ConfigNode.mapping([
            ConfigEntry(key: "endpoint", value: .scalar("http://127.0.0.1:\(port)")),
            ConfigEntry(key: "retry_on_failure", value: fastRetry),
        ] + settings.map { ConfigEntry(key: $0.0, value: $0.1) })
        let exporter = try ExporterFactory.make(id: "elasticsearch", node: node, logger: capture.logger())
        for batch in batches { exporter.export(batch) }
        exporter.shutdown(deadline: .now + .seconds(20))
        return (try readJSONLines(dump), exporter.statistics)
    }

    /// The documents (every second NDJSON line) of a recorded bulk request.
    private func documents(_ request: [String: Any]) -> [[String: Any]] {
        let lines = request["lines"] as? [[String: Any]] ?? []
        return stride(from: 1, to: lines.count, by: 2).map { lines[$0] }
    }

    private func actions(_ request: [String: Any]) -> [[String: Any]] {
        let lines = request["lines"] as? [[String: Any]] ?? []
        return stride(from: 0, to: lines.count, by: 2).map { lines[$0] }
    }

    @Test("documents have the otel mapping mode shape and go to the connector's data stream")
    func documentShape() throws {
        let (requests, statistics) = try run(scenario: "[]", settings: [("api_key", "c2VjcmV0")])
        // Points sharing timestamp and attributes share a document: user.count alone
        // (no attributes), native.count twice (two shlib_name values), frame_type once.
        #expect(statistics == ExporterStatistics(sent: 4))
        let request = try #require(requests.first)
        #expect(request["path"] as? String == "/_bulk")
        let headers = try #require(request["headers"] as? [String: String])
        #expect(headers["content-type"] == "application/x-ndjson")
        #expect(headers["authorization"] == "ApiKey c2VjcmV0")
        #expect(headers["content-encoding"] == "gzip")

        for action in actions(request) {
            let create = try #require(action["create"] as? [String: Any])
            #expect(create["_index"] as? String == "metrics-profilingmetricsconnector.otel-default")
        }
        let documents = documents(request)
        try #require(documents.count == 4)
        let user = try #require(documents.first { ($0["metrics"] as? [String: Any])?["samples.user.count"] != nil })
        #expect((user["@timestamp"] as? NSNumber)?.int64Value == 1_700_000_000_123)
        #expect((user["start_timestamp"] as? NSNumber)?.int64Value == 1_700_000_000_000)
        #expect(user["unit"] as? String == "1")
        #expect(user["data_stream"] as? [String: String] ==
            ["type": "metrics", "dataset": "profilingmetricsconnector.otel", "namespace": "default"])
        let resource = try #require((user["resource"] as? [String: Any])?["attributes"] as? [String: Any])
        #expect(resource["host.name"] as? String == "tandem-test")
        #expect((resource["process.pid"] as? NSNumber)?.intValue == 4242)
        #expect((user["scope"] as? [String: Any])?["name"] as? String == connectorScope)
        #expect(((user["metrics"] as? [String: Any])?["samples.user.count"] as? NSNumber)?.intValue == 42)
        #expect(user["attributes"] == nil)
        #expect(user["_metric_names_hash"] as? String == ElasticsearchDocumentBuilder.metricNamesHash(["samples.user.count"]))

        let libc = try #require(documents.first { ($0["attributes"] as? [String: Any])?["shlib_name"] as? String == "libc.so.6" })
        #expect(((libc["metrics"] as? [String: Any])?["samples.native.count"] as? NSNumber)?.intValue == 7)
        let gauge = try #require(documents.first { ($0["metrics"] as? [String: Any])?["samples.frame_type"] != nil })
        #expect(gauge["start_timestamp"] == nil)

        // Dynamic templates map sums as counters and gauges as gauges.
        let templates = actions(request).compactMap { ($0["create"] as? [String: Any])?["dynamic_templates"] as? [String: String] }
        #expect(templates.contains(["metrics.samples.user.count": "counter_long"]))
        #expect(templates.contains(["metrics.samples.frame_type": "gauge_long"]))
    }

    @Test("metric names hash is FNV-1a over the sorted names")
    func metricNamesHash() {
        #expect(ElasticsearchDocumentBuilder.metricNamesHash(["foo"]) == "a9f37ed7")
        #expect(ElasticsearchDocumentBuilder.metricNamesHash(["samples.native.count"]) == "3c23ed0c")
        #expect(ElasticsearchDocumentBuilder.metricNamesHash(["b", "a"]) == ElasticsearchDocumentBuilder.metricNamesHash(["a", "b"]))
    }

    @Test("points that share a timestamp and attributes share one document")
    func mergesMetricsIntoDocuments() {
        let time: UInt64 = 1_700_000_000_000_000_000
        let batch = MetricsBatch(resourceMetrics: [ResourceMetrics(resource: [], scopeMetrics: [
            ScopeMetrics(scopeName: "s", metrics: [
                Metric(name: "a", data: .gauge(points: [NumberDataPoint(attributes: [], startTimeUnixNano: 0, timeUnixNano: time, value: 1)])),
                Metric(name: "b", data: .gauge(points: [NumberDataPoint(attributes: [], startTimeUnixNano: 0, timeUnixNano: time, value: 2)])),
            ]),
        ])])
        let items = ElasticsearchDocumentBuilder().items(for: batch)
        #expect(items.count == 1)
        let document = try? JSONSerialization.jsonObject(with: Data(items.first?.document ?? [])) as? [String: Any]
        #expect((document?["metrics"] as? [String: Any])?.count == 2)
    }

    @Test("namespace setting and data_stream.namespace attribute route the documents")
    func routing() {
        var builder = ElasticsearchDocumentBuilder()
        builder.namespace = "prod"
        var batch = sampleBatch()
        #expect(Set(builder.items(for: batch).map(\.index)) == ["metrics-profilingmetricsconnector.otel-prod"])
        batch.resourceMetrics[0].resource.append(Attribute("data_stream.namespace", "Team-A"))
        let items = builder.items(for: batch)
        #expect(Set(items.map(\.index)) == ["metrics-profilingmetricsconnector.otel-team-a"])
        // The routing attribute itself is not copied into the document.
        #expect(!items.contains { String(decoding: $0.document, as: UTF8.self).contains("Team-A") })
    }

    @Test("per-item errors: the 429 item is retried alone, the 400 item is rejected and logged")
    func partialItemFailures() throws {
        let capture = LogCapture()
        let (requests, statistics) = try run(scenario: #"[{"items": [201, 429, 400, 201]}]"#, capture: capture)
        #expect(statistics == ExporterStatistics(sent: 3, retried: 1, rejected: 1))
        try #require(requests.count == 2)
        let first = documents(requests[0])
        let retried = documents(requests[1])
        try #require(first.count == 4 && retried.count == 1)
        #expect(NSDictionary(dictionary: retried[0]).isEqual(to: first[1]))
        #expect(capture.messages.contains { $0.contains("refused a document") && $0.contains("mapper_parsing_exception") && $0.contains("status=400") })
    }

    @Test("a whole-request 429 is retried after the server's Retry-After")
    func honoursRetryAfter() throws {
        let (requests, statistics) = try run(scenario: #"[{"status": 429, "retry_after": "1"}]"#)
        #expect(statistics == ExporterStatistics(sent: 4, retried: 4))
        try #require(requests.count == 2)
        // Backoff alone would be 10ms: a gap of a second means Retry-After was honoured.
        let gap = try #require(requests[1]["time"] as? Double) - (try #require(requests[0]["time"] as? Double))
        #expect(gap >= 0.9)
        #expect(documents(requests[0]).count == documents(requests[1]).count)
    }

    @Test("500 then success: retried, then sent")
    func retriesServerError() throws {
        let (requests, statistics) = try run(scenario: #"[{"status": 500}]"#)
        #expect(statistics == ExporterStatistics(sent: 4, retried: 4))
        #expect(requests.count == 2)
    }

    @Test("a whole-request 401 is rejected, not retried")
    func rejectsUnauthorized() throws {
        let capture = LogCapture()
        let (requests, statistics) = try run(scenario: #"[{"status": 401}]"#, capture: capture)
        #expect(statistics == ExporterStatistics(rejected: 4))
        #expect(requests.count == 1)
        #expect(capture.messages.contains { $0.contains("status=401") })
    }

    @Test("connection refused: retried until max_elapsed_time, then counted as dropped")
    func connectionRefused() throws {
        let capture = LogCapture()
        let port = try unusedPort()
        let node = mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")),
                           ("retry_on_failure", mapping(("initial_interval", "10ms"), ("max_interval", "20ms"),
                                                        ("max_elapsed_time", "300ms"))))
        let exporter = try ExporterFactory.make(id: "elasticsearch/down", node: node, logger: capture.logger())
        exporter.export(sampleBatch())
        exporter.shutdown(deadline: .now + .seconds(10))
        let statistics = exporter.statistics
        #expect(statistics.sent == 0)
        #expect(statistics.dropped == 4)
        #expect(statistics.retried >= 4)
        #expect(capture.messages.contains { $0.contains("dropping") && $0.contains("max_elapsed_time") })
    }

    @Test("referenced but not configured: default endpoint, and the log says so")
    func defaultsWhenUndefined() throws {
        let capture = LogCapture()
        let exporter = try ElasticsearchExporter(id: "elasticsearch", settings: ConfigMappingReader(nil, path: "exporters.elasticsearch"),
                                                 isDefined: false, logger: capture.logger(), environment: [:])
        exporter.shutdown()
        #expect(capture.messages.contains { $0.contains("not defined") && $0.contains("http://localhost:9200") })
    }

    @Test("user and password become basic authentication")
    func basicAuthentication() throws {
        let (requests, _) = try run(scenario: "[]", settings: [("user", "elastic"), ("password", "changeme"),
                                                               ("compression", "none")])
        let headers = try #require(requests.first?["headers"] as? [String: String])
        #expect(headers["authorization"] == "Basic " + Data("elastic:changeme".utf8).base64EncodedString())
        #expect(headers["content-encoding"] == nil)
    }

    @Test("with several endpoints, a retry goes to the next one")
    func failsOverToNextEndpoint() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, "[]"])
        defer { stub.stop() }
        let down = try unusedPort()
        let node = mapping(("endpoints", .sequence([.scalar("http://127.0.0.1:\(down)"), .scalar("http://127.0.0.1:\(port)/")])),
                           ("retry_on_failure", fastRetry))
        let exporter = try ExporterFactory.make(id: "elasticsearch", node: node, logger: LogCapture().logger())
        exporter.export(sampleBatch())
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(exporter.statistics == ExporterStatistics(sent: 4, retried: 4))
        #expect(try readJSONLines(dump).count == 1)
    }
}
