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

    @Test("durations in the Collector's notation")
    func durations() {
        #expect(parseDuration("5s") == .seconds(5))
        #expect(parseDuration("250ms") == .milliseconds(250))
        #expect(parseDuration("1m30s") == .seconds(90))
        #expect(parseDuration("1h") == .seconds(3600))
        #expect(parseDuration("0") == .zero)
        #expect(parseDuration("5") == nil)
        #expect(parseDuration("s") == nil)
        #expect(parseDuration("5x") == nil)
    }

    @Test("delivery settings are read from timeout, sending_queue and retry_on_failure")
    func deliverySettings() throws {
        let reader = try ConfigReader(path: "exporters.x", node: mapping(
            ("timeout", "2s"), ("sending_queue", mapping(("queue_size", "7"))),
            ("retry_on_failure", mapping(("enabled", "false"), ("initial_interval", "1s"), ("max_elapsed_time", "1m")))))
        let settings = try DeliverySettings(reading: reader)
        #expect(settings.timeout == .seconds(2))
        #expect(settings.queueSize == 7)
        #expect(settings.retryEnabled == false)
        #expect(settings.initialInterval == .seconds(1))
        #expect(settings.maxElapsedTime == .seconds(60))
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
    func attempt(_ request: Int, timeout: Duration) -> DeliveryOutcome<Int> {
        entered.signal()
        release.wait()
        return .finished(sent: request, rejected: 0)
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
