import Configuration
import Testing

/// Issue 13's full-profiles configuration, exactly as written there.
let fullProfilesConfiguration = """
receivers:
  profiling:
    SamplesPerSecond: 19
service:
  pipelines:
    profiles:
      receivers: [ profiling ]
      exporters: [ elasticsearch ]
"""

@Suite("The profiles pipeline")
struct ProfilesPipelineConfigurationTests {
    @Test("the full-profiles configuration is valid, with no warning about Elasticsearch")
    func fullProfilesConfigurationVerbatim() throws {
        let configuration = try CollectorConfiguration(yaml: fullProfilesConfiguration, environment: [:])
        #expect(configuration.profilingReceiver.samplesPerSecond == 19)
        #expect(configuration.exporters(for: .profiles).map(\.id) == [ComponentID(type: "elasticsearch")])
        #expect(!configuration.warnings.contains { $0.contains("elasticsearch") })
    }

    @Test("both pipelines run from one configuration")
    func bothPipelines() throws {
        let yaml = seedConfiguration.replacingOccurrences(of: "exporters: [ profilingmetrics ]",
                                                          with: "exporters: [ profilingmetrics, elasticsearch, otlphttp ]")
            + "\nexporters:\n  otlphttp:\n    endpoint: http://localhost:4318\n"
        let configuration = try CollectorConfiguration(yaml: yaml, environment: [:])
        #expect(configuration.exporters(for: .profiles).map(\.id.type) == ["elasticsearch", "otlphttp"])
        #expect(configuration.exporters(for: .metrics).map(\.id.type) == ["elasticsearch"])
        #expect(configuration.profilingMetricsID == ComponentID(type: "profilingmetrics"))
    }

    @Test("`otlp` (gRPC) is valid in both pipelines")
    func otlpInBothPipelines() throws {
        let yaml = seedConfiguration.replacingOccurrences(of: "exporters: [ profilingmetrics ]",
                                                          with: "exporters: [ profilingmetrics, otlp/grpc ]")
            + "\nexporters:\n  otlp/grpc:\n    endpoint: collector:4317\n"
        let configuration = try CollectorConfiguration(yaml: yaml, environment: [:])
        #expect(configuration.exporters(for: .profiles).map(\.id) == [ComponentID(type: "otlp", name: "grpc")])
        let metrics = try CollectorConfiguration(yaml: yaml.replacingOccurrences(of: "exporters: [ elasticsearch ]",
                                                                                 with: "exporters: [ otlp/grpc ]"),
                                                 environment: [:])
        #expect(metrics.exporters(for: .metrics).map(\.id) == [ComponentID(type: "otlp", name: "grpc")])
        #expect(metrics.warnings.isEmpty)
    }

    @Test("an exporter that cannot take the pipeline's signal is refused with the ones that can")
    func wrongSignal() throws {
        let yaml = fullProfilesConfiguration.replacingOccurrences(of: "[ elasticsearch ]", with: "[ prometheusremotewrite ]")
        let error = try #require(throws: ConfigurationError.self) {
            try CollectorConfiguration(yaml: yaml, environment: [:])
        }
        #expect(error.path == "service.pipelines.profiles.exporters[0]")
        #expect(error.problem == "the `prometheusremotewrite` exporter cannot take profiles")
        #expect(error.fix == "use one of tandem's profiles exporters: `elasticsearch`, `otlphttp`, `otlp`, `file`; or, for metrics, list `profilingmetrics` here and `prometheusremotewrite` in a `metrics` pipeline that receives from it")
    }

    @Test("the catalog says which signals each exporter type takes")
    func catalogSignals() {
        #expect(ComponentCatalog.tandem.exporterTypes(for: .profiles).sorted() == ["elasticsearch", "file", "otlp", "otlphttp"])
        #expect(ComponentCatalog.tandem.exporterTypes(for: .metrics).sorted()
                == ["elasticsearch", "file", "otlp", "otlphttp", "prometheusremotewrite"])
    }
}
