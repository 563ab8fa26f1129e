import Foundation
import Configuration
import Testing

/// The configuration of the project's seed document, exactly as written there:
/// older-generation connector flags, the older `SamplesPerSecond` spelling,
/// and an `elasticsearch` exporter named without a definition.
let seedConfiguration = """
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

@Suite("The seed configuration")
struct SeedConfigurationTests {
    @Test("is accepted as written")
    func acceptedVerbatim() throws {
        let configuration = try CollectorConfiguration(yaml: seedConfiguration)

        #expect(configuration.profilingReceiverID == ComponentID(type: "profiling"))
        #expect(configuration.profilingReceiver.samplesPerSecond == 19)
        #expect(configuration.profilingMetricsID == ComponentID(type: "profilingmetrics"))
        #expect(configuration.undefinedButReferencedExporters == [ComponentID(type: "elasticsearch")])
        #expect(configuration.pipelines.map(\.signal) == [.profiles, .metrics])

        let elasticsearch = try #require(configuration.exporter(ComponentID(type: "elasticsearch")))
        #expect(elasticsearch.node == nil)
        #expect(configuration.exporters(for: .metrics).map(\.id) == [ComponentID(type: "elasticsearch")])
        #expect(configuration.exporters(for: .profiles).isEmpty)
    }

    @Test("turns on every metric of the older generation")
    func olderFlagsOn() throws {
        let settings = try #require(try CollectorConfiguration(yaml: seedConfiguration).profilingMetrics)
        #expect(settings.generation == .older)
        #expect(settings.enabledMetrics == Set(ProfilingMetric.allCases).subtracting([.customAggregation]))
        // The older connector emitted once per received batch.
        #expect(settings.flushInterval == .zero)
    }

    @Test("uses the receiver's reporter interval as the metrics window")
    func windowFromReporterInterval() throws {
        let configuration = try CollectorConfiguration(yaml: seedConfiguration)
        #expect(configuration.metricsWindow == .seconds(5))
    }

    @Test("also accepted with profiles exported to elasticsearch and the exporter defined")
    func variant() throws {
        let yaml = seedConfiguration.replacingOccurrences(
            of: "      exporters: [ profilingmetrics ]", with: "      exporters: [ profilingmetrics, elasticsearch ]")
            + """

            exporters:
              elasticsearch:
                endpoints: [ "https://localhost:9200" ]
            """
        let configuration = try CollectorConfiguration(yaml: yaml)
        #expect(configuration.undefinedButReferencedExporters.isEmpty)
        let elasticsearch = try #require(configuration.exporter(ComponentID(type: "elasticsearch")))
        #expect(elasticsearch.node?["endpoints"] == .sequence([.scalar("https://localhost:9200")]))
        #expect(configuration.exporters(for: .profiles).map(\.id) == [ComponentID(type: "elasticsearch")])
    }
}
