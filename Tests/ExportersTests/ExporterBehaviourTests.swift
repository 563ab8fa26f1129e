import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

@Suite("file exporter")
struct FileExporterTests {
    @Test("one OTLP/JSON line per batch, appended to `path`")
    func writesJSONLines() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metrics.jsonl")
        let exporter = try ExporterFactory.make(id: "file/local", node: mapping(("path", .scalar(path.path))),
                                                logger: LogCapture().logger())
        exporter.export(sampleBatch(userCount: 1))
        exporter.export(MetricsBatch(resourceMetrics: []))  // empty: nothing written
        exporter.export(sampleBatch(userCount: 2))
        exporter.shutdown()
        exporter.export(sampleBatch(userCount: 3))  // after shutdown: dropped and counted
        #expect(exporter.statistics == ExporterStatistics(sent: 2, dropped: 1))
        let lines = try readJSONLines(path)
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0["resourceMetrics"] is [[String: Any]] })
        let text = try String(contentsOf: path, encoding: .utf8)
        #expect(text.contains(#""asInt":"1""#) && text.contains(#""asInt":"2""#))
    }

    @Test("a batch of more resources than a line holds is written as several lines, none lost")
    func splitsLargeBatches() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metrics.jsonl")
        let exporter = try ExporterFactory.make(id: "file/local", node: mapping(("path", .scalar(path.path))),
                                                logger: LogCapture().logger())
        let resource = try #require(sampleBatch().resourceMetrics.first)
        let count = 2 * FileExporter.resourcesPerLine + 3
        exporter.export(MetricsBatch(resourceMetrics: Array(repeating: resource, count: count)))
        exporter.shutdown()
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        let lines = try readJSONLines(path)
        let perLine = lines.map { ($0["resourceMetrics"] as? [[String: Any]])?.count ?? 0 }
        #expect(perLine == [FileExporter.resourcesPerLine, FileExporter.resourcesPerLine, 3])
    }

    @Test("an unwritable path is a configuration error naming the key")
    func unwritablePath() {
        #expect {
            _ = try ExporterFactory.make(id: "file", node: mapping(("path", "/nonexistent-dir/x.jsonl")), logger: LogCapture().logger())
        } throws: { error in
            (error as? ConfigurationError)?.path == "exporters.file.path"
        }
    }
}

@Suite("exporter configuration")
struct ExporterConfigurationTests {
    private func error(_ id: String, _ node: ConfigNode?) -> ConfigurationError? {
        do {
            let exporter = try ExporterFactory.make(id: id, node: node, logger: LogCapture().logger())
            exporter.shutdown()
            return nil
        } catch {
            return error
        }
    }

    @Test("an unknown key names its path and the closest valid key")
    func unknownKey() throws {
        let failure = try #require(error("otlphttp", mapping(("endpoint", "http://localhost:4318"), ("compresion", "gzip"))))
        #expect(failure.path == "exporters.otlphttp.compresion")
        #expect(failure.fix == "did you mean `compression`?")
        let nested = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"),
                                                           ("retry_on_failure", mapping(("max_interval_", "1s"))))))
        #expect(nested.path == "exporters.otlphttp.retry_on_failure.max_interval_")
        #expect(nested.fix == "did you mean `max_interval`?")
    }

    @Test("bad values are reported with the key and a fix")
    func badValues() throws {
        let encoding = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("encoding", "protobuf"))))
        #expect(encoding.path == "exporters.otlphttp.encoding")
        #expect(encoding.fix == "did you mean `proto`?")
        let duration = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("timeout", "5 seconds"))))
        #expect(duration.path == "exporters.otlphttp.timeout")
        let url = try #require(error("prometheusremotewrite", mapping(("endpoint", "localhost:9090"))))
        #expect(url.path == "exporters.prometheusremotewrite.endpoint")
        #expect(try #require(error("otlphttp", nil)).problem.contains("endpoint"))
        let both = try #require(error("elasticsearch", mapping(("api_key", "k"), ("user", "u"))))
        #expect(both.path == "exporters.elasticsearch.api_key")
    }

    @Test("an unknown exporter type suggests the closest known one")
    func unknownType() throws {
        let failure = try #require(error("elasticsearh/main", nil))
        #expect(failure.path == "exporters.elasticsearh/main")
        #expect(failure.fix == "did you mean `elasticsearch`?")
    }

    @Test("durations in the Collector's notation, through Configuration's one reader")
    func durations() throws {
        func timeout(_ text: ConfigNode) throws -> Duration {
            try DeliverySettings(reading: ConfigMappingReader(mapping(("timeout", text)), path: "exporters.x")).timeout
        }
        #expect(try timeout("5s") == .seconds(5))
        #expect(try timeout("250ms") == .milliseconds(250))
        #expect(try timeout("1m30s") == .seconds(90))
        #expect(try timeout("1h") == .seconds(3600))
        let bare = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("timeout", "5"))))
        #expect(bare.path == "exporters.otlphttp.timeout")
        #expect(bare.fix == "write a unit, e.g. `5s`")
        let zero = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("timeout", "0s"))))
        #expect(zero.problem == "must be greater than zero")
        let negative = try #require(error("prometheusremotewrite", mapping(("endpoint", "http://x:1"), ("timeout", "-1s"))))
        #expect(negative.path == "exporters.prometheusremotewrite.timeout")
        #expect(negative.problem == "must not be negative")
    }

    @Test("delivery settings are read from timeout, sending_queue and retry_on_failure")
    func deliverySettings() throws {
        let reader = try ConfigMappingReader(mapping(
            ("timeout", "2s"), ("sending_queue", mapping(("queue_size", "7"))),
            ("retry_on_failure", mapping(("enabled", "false"), ("initial_interval", "1s"), ("max_elapsed_time", "1m")))),
            path: "exporters.x")
        let settings = try DeliverySettings(reading: reader)
        #expect(settings.timeout == .seconds(2))
        #expect(settings.queueSize == 7)
        #expect(settings.retryEnabled == false)
        #expect(settings.initialInterval == .seconds(1))
        #expect(settings.maxElapsedTime == .seconds(60))
    }

    @Test("bad delivery settings name their nested path and the fix")
    func badDeliverySettings() throws {
        let size = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"),
                                                        ("sending_queue", mapping(("queue_size", "0"))))))
        #expect(size.path == "exporters.otlphttp.sending_queue.queue_size")
        #expect(size.fix == "write a number from 1 to 1000000")
        let enabled = try #require(error("elasticsearch", mapping(("sending_queue", mapping(("enabled", "maybe"))))))
        #expect(enabled.path == "exporters.elasticsearch.sending_queue.enabled")
        #expect(enabled.problem.contains("`maybe`"))
        #expect(enabled.fix == "write `enabled: true` or `enabled: false`")
        let factor = try #require(error("prometheusremotewrite", mapping(
            ("endpoint", "http://x:1"), ("retry_on_failure", mapping(("randomization_factor", "lots"))))))
        #expect(factor.path == "exporters.prometheusremotewrite.retry_on_failure.randomization_factor")
        #expect(factor.fix == "write a number from 0.0 to 1.0")
        let list = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("retry_on_failure", .sequence(["a"])))))
        #expect(list.path == "exporters.otlphttp.retry_on_failure")
        #expect(list.problem.contains("mapping"))
    }

    @Test("each exporter's own settings: bad values name the key, the cause and the fix")
    func exporterSpecificSettings() throws {
        let format = try #require(error("file", mapping(("format", "jsonl"))))
        #expect(format.path == "exporters.file.format")
        #expect(format.fix == "did you mean `json`?")
        let fileKey = try #require(error("file", mapping(("pth", "/tmp/x"))))
        #expect(fileKey.fix == "did you mean `path`?")
        let compression = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("compression", "zstd"))))
        #expect(compression.path == "exporters.otlphttp.compression")
        #expect(compression.fix == "valid values: `gzip`, `none`, `\"\"`")
        let metricsURL = try #require(error("otlphttp", mapping(("metrics_endpoint", "localhost:4318/v1/metrics"))))
        #expect(metricsURL.path == "exporters.otlphttp.metrics_endpoint")
        #expect(metricsURL.problem == "`localhost:4318/v1/metrics` is not an http:// or https:// URL")
        let endpointURL = try #require(error("otlphttp", mapping(("endpoint", "localhost:4318"))))
        #expect(endpointURL.problem == "`localhost:4318` is not an http:// or https:// URL")
        let header = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("headers", mapping(("X-A", .sequence(["a"])))))))
        #expect(header.path == "exporters.otlphttp.headers.X-A")
        let headers = try #require(error("prometheusremotewrite", mapping(("endpoint", "http://x:1"), ("headers", .sequence(["a"])))))
        #expect(headers.path == "exporters.prometheusremotewrite.headers")
        #expect(try #require(error("prometheusremotewrite", nil)).problem == "no `endpoint` is set")
        let onlyEndpoint = try #require(error("elasticsearch", mapping(("endpoints", .sequence(["y:9200"])))))
        #expect(onlyEndpoint.path == "exporters.elasticsearch.endpoints[0]")
        let secondEndpoint = try #require(error("elasticsearch", mapping(("endpoints", .sequence(["http://y:9200", "y:9200"])))))
        #expect(secondEndpoint.path == "exporters.elasticsearch.endpoints[1]")
        let both = try #require(error("elasticsearch", mapping(("endpoint", "http://x:9200"), ("endpoints", .sequence(["http://y:9200"])))))
        #expect(both.path == "exporters.elasticsearch.endpoint")
        let password = try #require(error("elasticsearch", mapping(("password", "p"))))
        #expect(password.path == "exporters.elasticsearch.password")
        #expect(password.fix == "add `user`")
        let dynamic = try #require(error("elasticsearch", mapping(("metrics_dynamic_index", mapping(("enable", "true"))))))
        #expect(dynamic.path == "exporters.elasticsearch.metrics_dynamic_index.enable")
        #expect(dynamic.fix == "did you mean `enabled`?")
        let mode = try #require(error("elasticsearch", mapping(("mapping", mapping(("mode", "ecs"))))))
        #expect(mode.path == "exporters.elasticsearch.mapping.mode")
        #expect(mode.fix == "valid values: `otel`")
    }

    @Test("a key far from every valid one lists them; one that extends a valid key suggests it")
    func farAndPrefixKeys() throws {
        let far = try #require(error("prometheusremotewrite", mapping(("endpoint", "http://x:1"),
                                                                    ("resource_to_telemetry_conversion", mapping()))))
        #expect(far.fix == "valid keys: `endpoint`, `headers`, `timeout`, `sending_queue`, `retry_on_failure`")
        let prefix = try #require(error("otlphttp", mapping(("endpoint_url", "http://x:1"))))
        #expect(prefix.fix == "did you mean `endpoint`?")
    }

    @Test("values the Collector refuses are refused with the fix: `yes` for a boolean, a string for a list")
    func collectorTyping() throws {
        let yes = try #require(error("otlphttp", mapping(("endpoint", "http://x:1"), ("sending_queue", mapping(("enabled", "yes"))))))
        #expect(yes.path == "exporters.otlphttp.sending_queue.enabled")
        #expect(yes.fix == "write `enabled: true` or `enabled: false`")
        let scalar = try #require(error("elasticsearch", mapping(("endpoints", "http://y:9200"))))
        #expect(scalar.path == "exporters.elasticsearch.endpoints")
        #expect(scalar.fix == "write `endpoints: [ item, ... ]`")
    }

    @Test("with the document's locations, an exporter's error names the line")
    func errorLine() throws {
        let configuration = try CollectorConfiguration(yaml: """
            receivers: { profiling: }
            connectors: { profilingmetrics: }
            exporters:
              otlphttp:
                endpoint: http://localhost:4318
                encoding: protobuf
            service:
              pipelines:
                profiles: { receivers: [profiling], exporters: [profilingmetrics] }
                metrics: { receivers: [profilingmetrics], exporters: [otlphttp] }
            """)
        let exporter = try #require(configuration.exporters(for: .metrics).first)
        let failure = #expect(throws: ConfigurationError.self) {
            try ExporterFactory.make(id: exporter.id.description, node: exporter.node,
                                     locations: configuration.document.locations, logger: LogCapture().logger())
        }
        #expect(failure?.path == "exporters.otlphttp.encoding")
        #expect(failure?.line == 6)
        #expect(failure?.fix == "did you mean `proto`?")
    }

    @Test("backoff grows by the multiplier, capped at max_interval")
    func backoff() {
        var settings = DeliverySettings()
        settings.initialInterval = .seconds(1)
        settings.multiplier = 2
        settings.maxInterval = .seconds(5)
        settings.randomizationFactor = 0
        #expect(settings.backoff(retry: 1) == .seconds(1))
        #expect(settings.backoff(retry: 3) == .seconds(4))
        #expect(settings.backoff(retry: 10) == .seconds(5))
        settings.randomizationFactor = 0.5
        for retry in 1...20 {
            let delay = settings.backoff(retry: retry)
            #expect(delay >= .milliseconds(500) && delay <= .seconds(5))
        }
    }
}

@Suite("export queue")
struct ExportQueueTests {
    @Test("a full queue drops the oldest request and counts it; shutdown drops what is left")
    func dropsOldestWhenFull() throws {
        let capture = LogCapture()
        let port = try unusedPort()
        // Nothing listens: the first request waits in a long backoff while others queue up.
        let node = mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")),
                           ("sending_queue", mapping(("queue_size", "3"))),
                           ("retry_on_failure", mapping(("initial_interval", "1m"), ("max_interval", "1m"),
                                                        ("randomization_factor", "0"))))
        let exporter = try ExporterFactory.make(id: "otlphttp/queue", node: node, logger: capture.logger())
        exporter.export(sampleBatch(userCount: 0))
        try waitUntil("the first request to fail once") { exporter.statistics.retried == 1 }
        for count in 1...5 { exporter.export(sampleBatch(userCount: Int64(count))) }
        #expect(exporter.statistics.dropped == 2)
        #expect(capture.messages.contains { $0.contains("queue full") })
        exporter.shutdown(deadline: .now)
        // The request in backoff and the three queued ones are dropped at shutdown.
        #expect(exporter.statistics == ExporterStatistics(retried: 1, dropped: 6))
        exporter.export(sampleBatch())
        #expect(exporter.statistics.dropped == 7)
    }
}

/// A destination whose attempt hangs until released, whatever its timeout says (a
/// wedged endpoint, a library call that does not honour the timeout).
private final class HangingTarget: DeliveryTarget, @unchecked Sendable {
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)

    func makeRequests(for batch: MetricsBatch) throws -> [Int] { [batch.resourceMetrics.count] }
    func itemCount(of request: Int) -> Int { request }
    func byteCount(of request: Int) -> Int { 0 }
    func attempt(_ request: Int, timeout: Duration) -> DeliveryOutcome<Int> {
        entered.signal()
        release.wait()
        return .finished(sent: request, rejected: 0)
    }
}

/// A destination whose first attempt hangs until released; a batch is one request of
/// that many bytes.
private final class SizedTarget: DeliveryTarget, @unchecked Sendable {
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)

    func makeRequests(for batch: Int) throws -> [Int] { [batch] }
    func itemCount(ofUnencoded batch: Int) -> Int { 1 }
    func itemCount(of request: Int) -> Int { 1 }
    func byteCount(of request: Int) -> Int { request }
    func attempt(_ request: Int, timeout: Duration) -> DeliveryOutcome<Int> {
        entered.signal()
        release.wait()
        release.signal()
        return .finished(sent: 1, rejected: 0)
    }
}

@Suite("export queue bounds")
struct ExportQueueBoundTests {
    @Test("the queue holds at most queueBytes: past it the oldest requests are dropped and counted")
    func queueBytesBound() throws {
        let capture = LogCapture()
        let target = SizedTarget()
        var settings = DeliverySettings()
        settings.queueBytes = 10_000
        let worker = ExportWorker(target: target, settings: settings, logger: capture.logger(), name: "sized")
        worker.enqueue(100)
        #expect(target.entered.wait(timeout: .now() + 20) == .success)
        worker.enqueue(4_000)
        worker.enqueue(4_000)
        #expect(worker.statistics.dropped == 0)
        worker.enqueue(4_000)  // 12,000 bytes: the oldest queued one goes
        #expect(worker.statistics.dropped == 1)
        worker.enqueue(20_000)  // larger than the bound alone: everything before it goes, it stays
        #expect(worker.statistics.dropped == 3)
        #expect(capture.messages.contains { $0.contains("export queue full") && $0.contains("queue_bytes=10000") })
        target.release.signal()
        worker.shutdown(deadline: .now + .seconds(20))
        #expect(worker.statistics == ExporterStatistics(sent: 2, dropped: 3))
    }
}

@Suite("export shutdown")
struct ExportShutdownTests {
    @Test("a request still on the wire when shutdown gives up is counted as dropped, once")
    func hangingRequestIsCountedAtShutdown() throws {
        let capture = LogCapture()
        let target = HangingTarget()
        let worker = ExportWorker(target: target, settings: DeliverySettings(), logger: capture.logger(), name: "hang")
        let batch = sampleBatch()
        let items = UInt64(batch.resourceMetrics.count)
        worker.enqueue(batch)
        #expect(target.entered.wait(timeout: .now() + 20) == .success)
        worker.enqueue(batch)
        // Returns one second past the deadline: the hanging request and the queued one are counted now.
        worker.shutdown(deadline: .now)
        #expect(worker.statistics == ExporterStatistics(dropped: 2 * items))
        #expect(capture.messages.contains { $0.contains("did not stop by its shutdown deadline") })
        // The call that finally returns is not counted again (a second shutdown waits for the thread to end).
        target.release.signal()
        worker.shutdown(deadline: .now + .seconds(20))
        #expect(worker.statistics == ExporterStatistics(dropped: 2 * items))
    }
}
