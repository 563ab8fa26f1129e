import Foundation
import Testing

/// Issue 13's full-profiles configuration and the seed document's metrics configuration,
/// each exactly as written there, given to the built `tandem-aggregator` as files: both pass
/// `validate`, and both run (`replay` of the test fixture) with the undefined `elasticsearch`
/// exporter reaching the bulk stand-in through `ELASTICSEARCH_URL`, as a deployment that
/// names no endpoint would reach its cluster.
@Suite struct VerbatimConfigurationTests {
    /// Issue 13's configuration, verbatim.
    static let fullProfiles = """
        receivers:
          profiling:
            SamplesPerSecond: 19
        service:
          pipelines:
            profiles:
              receivers: [ profiling ]
              exporters: [ elasticsearch ]
        """

    /// The seed document's metrics configuration, verbatim.
    static let metrics = """
        receivers:
          profiling:
            SamplesPerSecond: 19

        connectors:
          profilingmetrics:
            by_frame: true
            by_frametype: true
            by_classification: true

        service:
          pipelines:
            profiles:
              receivers: [ profiling ]
              exporters: [ profilingmetrics ]
            metrics:
              receivers: [ profilingmetrics ]
              exporters: [ elasticsearch ]
        """

    /// Both in one file: the metrics configuration whose profiles pipeline also lists the
    /// full-profiles exporter (one `service.pipelines.profiles` holds both lists' exporters).
    static let both = metrics.replacingOccurrences(of: "exporters: [ profilingmetrics ]",
                                                   with: "exporters: [ profilingmetrics, elasticsearch ]")

    static let metricsIndex = "metrics-profilingmetricsconnector.otel-default"

    /// tandem-aggregator as `swift build` put it: next to this test bundle.
    static func aggregatorBinary() throws -> String {
        let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: bundle).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("tandem-aggregator").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw PythonPeerError(message: "tandem-aggregator was not built next to the tests (\(bundle)); run `swift build --build-tests` first")
    }

    /// Runs the aggregator with `arguments` and `ELASTICSEARCH_URL`; its status, standard output and error.
    static func aggregator(_ arguments: [String], elasticsearchURL: String? = nil)
        throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try aggregatorBinary())
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ELASTICSEARCH_URL"] = elasticsearchURL
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Standard error is small (log lines); read it after standard output is drained.
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text, problems)
    }

    static func write(_ yaml: String, to path: String) throws {
        try (yaml + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test(arguments: ["fullProfiles", "metrics", "both"])
    func validateAcceptsTheConfigurationAsWritten(name: String) throws {
        let directory = try temporaryDirectory()
        let path = directory + "/\(name).yaml"
        try Self.write(["fullProfiles": Self.fullProfiles, "metrics": Self.metrics, "both": Self.both][name]!, to: path)
        let result = try Self.aggregator(["validate", "--config", path])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("\(path): valid"))
        // Nothing in it is refused or left undelivered; only the undefined exporter is noted.
        #expect(!result.output.contains("warning:"), "\(result.output)")
        #expect(result.output.contains("note: exporter `elasticsearch` is used but not defined"))
    }

    /// Replays the fixture with the configuration in `yaml` against a fresh bulk stand-in;
    /// the stand-in's dump, the documents per index and `--folded`'s text.
    static func run(_ yaml: String, in directory: String) throws -> (dump: String, counts: [String: Int], folded: String) {
        let config = directory + "/config.yaml"
        try write(yaml, to: config)
        let dump = directory + "/bulk.jsonl"
        let stub = try PythonPeer(script: ProfilesPipelineTests.peers.appendingPathComponent("es_bulk_stub.py").path,
                                  arguments: [dump, "[]"])
        defer { stub.stop() }
        let port = try stub.readPort()
        let folded = directory + "/stacks.folded"
        let result = try aggregator(["replay", "--config", config, "--folded", folded, "--log-level", "error",
                                     ProfilesPipelineTests.capture.path],
                                    elasticsearchURL: "http://127.0.0.1:\(port)")
        #expect(result.status == 0, "\(result.errors)")
        let counts = try PythonPeer.run(ProfilesPipelineTests.peers.appendingPathComponent("es_profiling_check.py").path,
                                        ["counts", dump])
            .split(separator: "\n").reduce(into: [String: Int]()) {
                let parts = $1.split(separator: " ")
                $0[String(parts[0])] = Int(parts[1])
            }
        return (dump, counts, try String(contentsOfFile: folded, encoding: .utf8))
    }

    @Test func theFullProfilesConfigurationRunsAndItsDocumentsRebuildTheFoldedStacks() throws {
        let (dump, counts, folded) = try Self.run(Self.fullProfiles, in: try temporaryDirectory())
        let samples = ElasticsearchProfilesPipelineTests.normalized(folded).values.reduce(0, +)
        #expect(samples > 0)
        #expect(counts["profiling-events-all"] == samples)
        #expect(counts[Self.metricsIndex] == nil)
        let rebuilt = try PythonPeer.run(ProfilesPipelineTests.peers.appendingPathComponent("es_profiling_check.py").path,
                                         ["folded", dump,
                                          ProfilesPipelineTests.peers.appendingPathComponent("profiling-index-schema.json").path])
        #expect(ElasticsearchProfilesPipelineTests.normalized(rebuilt) == ElasticsearchProfilesPipelineTests.normalized(folded))
    }

    @Test func theMetricsConfigurationRunsAndWritesMetricsOnly() throws {
        let (_, counts, _) = try Self.run(Self.metrics, in: try temporaryDirectory())
        #expect((counts[Self.metricsIndex] ?? 0) > 0)
        #expect(counts.keys.allSatisfy { $0 == Self.metricsIndex }, "\(counts)")
    }

    @Test func bothInOneConfigurationWriteMetricsAndProfiles() throws {
        let (_, counts, folded) = try Self.run(Self.both, in: try temporaryDirectory())
        #expect((counts[Self.metricsIndex] ?? 0) > 0)
        #expect(counts["profiling-events-all"] == ElasticsearchProfilesPipelineTests.normalized(folded).values.reduce(0, +))
        #expect((counts["profiling-stacktraces"] ?? 0) > 0)
    }
}
