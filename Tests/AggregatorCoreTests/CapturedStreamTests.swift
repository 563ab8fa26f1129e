import AggregatorCore
import Configuration
import Foundation
import Testing

/// Replays a real capture (the demo workload in `mixed` mode, recorded by
/// scripts/make-replay-fixture.sh) and compares its metrics with the expected
/// ones next to it. Only the `samples.*.count` sums are compared: they depend
/// on the stream alone (kernel symbols travel in it, shlib_name comes from the
/// mapping paths), not on which binaries this machine has.
///
/// After a deliberate change of the metric rules, regenerate the expectation:
/// `TANDEM_UPDATE_FIXTURES=1 swift test --filter CapturedStreamTests`, and
/// review the diff.
@Suite struct CapturedStreamTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let configuration = """
        receivers:
          profiling:
        connectors:
          profilingmetrics:
            flush_interval: 1s
        exporters:
          file:
            path: METRICS
        service:
          pipelines:
            profiles:
              receivers: [ profiling ]
              exporters: [ profilingmetrics ]
            metrics:
              receivers: [ profilingmetrics ]
              exporters: [ file ]
        """

    /// "executable|metric{attributes}" -> value, summed over windows.
    func sums(ofMetricsFile path: String) throws -> [String: Int64] {
        var result: [String: Int64] = [:]
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let request = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            for resource in request["resourceMetrics"] as? [[String: Any]] ?? [] {
                let attributes = MetricsLines.flatten((resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? [])
                let executable = attributes["process.executable.name"] ?? "?"
                for scope in resource["scopeMetrics"] as? [[String: Any]] ?? [] {
                    for metric in scope["metrics"] as? [[String: Any]] ?? [] {
                        let name = metric["name"] as? String ?? "?"
                        let data = (metric["sum"] ?? metric["gauge"]) as? [String: Any] ?? [:]
                        for point in data["dataPoints"] as? [[String: Any]] ?? [] {
                            let labels = MetricsLines.flatten(point["attributes"] as? [[String: Any]] ?? [])
                                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                            result["\(executable)|\(name){\(labels)}", default: 0] += Int64(point["asInt"] as? String ?? "0") ?? 0
                        }
                    }
                }
            }
        }
        return result
    }

    @Test func aRealCaptureGivesTheExpectedMetrics() throws {
        let capture = Self.fixtures.appendingPathComponent("demo-mixed.tndm").path
        let expectedPath = Self.fixtures.appendingPathComponent("demo-mixed.expected.json").path
        let directory = try temporaryDirectory()
        let metricsPath = directory + "/metrics.jsonl"
        let configuration = try CollectorConfiguration(yaml: Self.configuration.replacingOccurrences(of: "METRICS", with: metricsPath))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: capture)))
        let summary = try replay(bytes, configuration: configuration, outputs: OutputPaths())
        let actual = try sums(ofMetricsFile: metricsPath)

        if ProcessInfo.processInfo.environment["TANDEM_UPDATE_FIXTURES"] == "1" {
            let data = try JSONSerialization.data(withJSONObject: actual, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: expectedPath))
        }
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: expectedPath)))
            as? [String: Int64] ?? [:]
        #expect(!expected.isEmpty)
        #expect(actual == expected)

        // And the rules hold on real data: every sample is user or kernel.
        let user = actual.filter { $0.key.contains("|samples.user.count{") }.values.reduce(0, +)
        let kernel = actual.filter { $0.key.contains("|samples.kernel.count{") }.values.reduce(0, +)
        #expect(user + kernel == Int64(summary.samples))
        #expect(actual.keys.contains { $0.hasPrefix("tandem-demo|samples.kernel.count{kernel_area=network,kernel_io=write,kernel_proto=tcp") })
    }
}
