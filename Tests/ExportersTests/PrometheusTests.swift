import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

@Suite("prometheusremotewrite naming and conversion")
struct PrometheusConversionTests {
    private func sum(_ name: String, unit: String, monotonic: Bool) -> Metric {
        Metric(name: name, unit: unit, data: .sum(points: [], temporality: .delta, isMonotonic: monotonic))
    }

    @Test("metric names follow the OpenTelemetry-to-Prometheus translation")
    func metricNames() {
        #expect(PrometheusNaming.metricName(sum("samples.user.count", unit: "1", monotonic: true)) == "samples_user_count_total")
        #expect(PrometheusNaming.metricName(sum("requests.total", unit: "1", monotonic: true)) == "requests_total")
        #expect(PrometheusNaming.metricName(Metric(name: "samples.frame_type", unit: "1", data: .gauge(points: []))) == "samples_frame_type_ratio")
        #expect(PrometheusNaming.metricName(sum("queue.depth", unit: "1", monotonic: false)) == "queue_depth")
        #expect(PrometheusNaming.metricName(Metric(name: "memory.usage", unit: "By", data: .gauge(points: []))) == "memory_usage_bytes")
        #expect(PrometheusNaming.metricName(sum("cpu.time", unit: "s", monotonic: true)) == "cpu_time_seconds_total")
        #expect(PrometheusNaming.metricName(sum("io.rate", unit: "By/s", monotonic: false)) == "io_rate_bytes_per_second")
        #expect(PrometheusNaming.metricName(sum("samples", unit: "{samples}", monotonic: true)) == "samples_total")
        #expect(PrometheusNaming.metricName(sum("2xx.responses", unit: "1", monotonic: true)) == "_2xx_responses_total")
    }

    @Test("label names are sanitized")
    func labelNames() {
        #expect(PrometheusNaming.labelName("process.executable.name") == "process_executable_name")
        #expect(PrometheusNaming.labelName("shlib_name") == "shlib_name")
        #expect(PrometheusNaming.labelName("0day") == "key_0day")
        #expect(PrometheusNaming.labelName("_private") == "key_private")
        #expect(PrometheusNaming.labelName("__name__") == "__name__")
    }

    @Test("delta sums are accumulated per series; gauges pass through")
    func deltaAccumulation() throws {
        let converter = PrometheusSeriesConverter()
        _ = converter.series(for: sampleBatch(time: 1_000_000_000, userCount: 5, nativeCount: 1))
        let second = converter.series(for: sampleBatch(time: 2_000_000_000, userCount: 3, nativeCount: 2))
        func value(_ name: String, _ extra: (String, String)? = nil) -> Double? {
            second.first { series in
                series.labels.contains { $0 == (name: "__name__", value: name) }
                    && (extra.map { e in series.labels.contains { $0 == (name: e.0, value: e.1) } } ?? true)
            }?.samples.last?.value
        }
        #expect(value("samples_user_count_total") == 8)
        #expect(value("samples_native_count_total", ("shlib_name", "libc.so.6")) == 3)
        #expect(value("samples_frame_type_ratio") == -3)
        let user = try #require(second.first { $0.labels.contains { $0 == (name: "__name__", value: "samples_user_count_total") } })
        let labels = Dictionary(uniqueKeysWithValues: user.labels.map { ($0.name, $0.value) })
        #expect(labels["job"] == "tandem")
        #expect(labels["instance"] == "tandem-test")
        #expect(labels["host_name"] == "tandem-test")
        #expect(labels["process_pid"] == "4242")
        #expect(user.labels.map(\.name) == user.labels.map(\.name).sorted())
        #expect(user.samples.last?.timestampMilliseconds == 2_000)
    }
}

@Suite("prometheusremotewrite into VictoriaMetrics")
struct VictoriaMetricsTests {
    private static let binary = "/usr/bin/victoria-metrics"

    @Test("series and accumulated values can be read back from VictoriaMetrics")
    func remoteWriteRoundTrip() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("\(Self.binary) is missing: install it with `apt-get install -y victoria-metrics`")
            return
        }
        let storage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: storage) }
        let port = try unusedPort()
        let base = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(Self.binary, [
            "-httpListenAddr=127.0.0.1:\(port)", "-storageDataPath=\(storage.path)", "-loggerLevel=ERROR",
            "-retentionPeriod=100y",
        ])
        defer { server.stop() }
        let client = try HTTPClient()
        try waitUntil("VictoriaMetrics /health") {
            guard server.process.isRunning else { throw PeerError.failed("victoria-metrics exited at start") }
            return (try? client.get(url: "\(base)/health", timeout: .seconds(1)))?.bodyText.hasPrefix("OK") == true
        }

        let exporter = try ExporterFactory.make(id: "prometheusremotewrite", node: mapping(("endpoint", .scalar("\(base)/api/v1/write"))),
                                                logger: LogCapture().logger())
        // Recent timestamps: VictoriaMetrics refuses samples outside its retention window.
        let now = UInt64(Date().timeIntervalSince1970) * 1_000_000_000
        let first = now - 20_000_000_000
        exporter.export(sampleBatch(time: first, start: first - 10_000_000_000, userCount: 5, nativeCount: 2))
        exporter.export(sampleBatch(time: now - 10_000_000_000, start: first, userCount: 3, nativeCount: 4))
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(exporter.statistics == ExporterStatistics(sent: 2))

        _ = try client.get(url: "\(base)/internal/force_flush", timeout: .seconds(10))
        let query = "match[]=%7B__name__%3D~%22samples_.%2A%22%7D"  // {__name__=~"samples_.*"}
        var lines: [[String: Any]] = []
        try waitUntil("series to be searchable") {
            let response = try client.get(url: "\(base)/api/v1/export?\(query)", timeout: .seconds(10))
            lines = response.bodyText.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            return lines.count >= 4
        }
        var byKey: [String: [Double]] = [:]
        for line in lines {
            let metric = line["metric"] as? [String: String] ?? [:]
            let key = [metric["__name__"] ?? "", metric["shlib_name"] ?? ""].joined(separator: "|")
            byKey[key] = (line["values"] as? [NSNumber])?.map(\.doubleValue)
            #expect(metric["job"] == "tandem")
            #expect(metric["instance"] == "tandem-test")
            #expect(metric["process_pid"] == "4242")
        }
        // Delta sums arrive as running totals; the gauge as is.
        #expect(byKey["samples_user_count_total|"] == [5, 8])
        #expect(byKey["samples_native_count_total|libc.so.6"] == [2, 6])
        #expect(byKey["samples_native_count_total|tab\t\"quoted\" é"] == [0, 0])
        #expect(byKey["samples_frame_type_ratio|"] == [-3, -3])
    }
}
