import Foundation
import Configuration
import Testing

/// A valid configuration to vary: `CONNECTOR` and `RECEIVER` are replaced by
/// the settings under test (indented 4 spaces).
private func configuration(connector: String = "", receiver: String = "", extra: String = "") -> String {
    """
    receivers:
      profiling:
    \(receiver)
    connectors:
      profilingmetrics:
    \(connector)
    service:
      pipelines:
        profiles:
          receivers: [profiling]
          exporters: [profilingmetrics]
        metrics:
          receivers: [profilingmetrics]
          exporters: [elasticsearch]
    \(extra)
    """
}

/// Loads `yaml` and returns the error it must raise.
private func configurationError(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigurationError? {
    #expect(throws: ConfigurationError.self, sourceLocation: sourceLocation) {
        try CollectorConfiguration(yaml: yaml)
    }
}

@Suite("Collector-shaped configuration errors")
struct CollectorConfigurationErrorTests {
    @Test("an unknown top-level section, with a suggestion")
    func unknownSection() {
        let error = configurationError(configuration() + "\nexporter:\n  debug:\n")
        #expect(error?.path == "exporter")
        #expect(error?.fix == "did you mean `exporters`?")
        #expect(error?.line == 16)
    }

    @Test("a misspelt connector flag, with the closest key")
    func misspeltFlag() {
        let error = configurationError(configuration(connector: "    by_frametpye: true"))
        #expect(error?.path == "connectors.profilingmetrics.by_frametpye")
        #expect(error?.problem == "unknown key `by_frametpye`")
        #expect(error?.fix == "did you mean `by_frametype`?")
        #expect(error?.line == 6)
        #expect(error?.column == 5)
    }

    @Test("a misspelt receiver key, suggesting across spellings")
    func misspeltReceiverKey() {
        let error = configurationError(configuration(receiver: "    samplespersecond: 19"))
        #expect(error?.path == "receivers.profiling.samplespersecond")
        #expect(error?.fix == "did you mean `samples_per_second`?" || error?.fix == "did you mean `SamplesPerSecond`?")
    }

    @Test("a key far from any valid one lists the valid keys")
    func farKey() {
        let error = configurationError(configuration(connector: "    completely_unrelated: 1"))
        #expect(error?.fix?.hasPrefix("valid keys: `by_frame`") == true)
    }

    @Test("an unknown component type, with the closest known type")
    func unknownType() {
        let yaml = configuration().replacingOccurrences(of: "connectors:\n  profilingmetrics:",
                                                        with: "connectors:\n  profilingmetric:")
        let error = configurationError(yaml)
        #expect(error?.path == "connectors.profilingmetric")
        #expect(error?.fix == "did you mean `profilingmetrics`?")
    }

    @Test("a receiver tandem does not have")
    func unknownReceiver() {
        let error = configurationError(configuration(extra: "").replacingOccurrences(
            of: "receivers:\n  profiling:\n", with: "receivers:\n  profiling:\n  otlp:\n    protocols: {}\n"))
        #expect(error?.path == "receivers.otlp")
        #expect(error?.problem == "tandem has no receiver of type `otlp`")
    }

    @Test("a pipeline naming an undefined receiver")
    func undefinedReceiver() {
        let yaml = configuration().replacingOccurrences(of: "receivers: [profiling]", with: "receivers: [profilin]")
        let error = configurationError(yaml)
        #expect(error?.path == "service.pipelines.profiles.receivers[0]")
        #expect(error?.fix == "did you mean `profiling`?")
    }

    @Test("a pipeline naming an exporter of no known type")
    func unknownExporter() {
        let yaml = configuration().replacingOccurrences(of: "exporters: [elasticsearch]", with: "exporters: [elasticsearc]")
        let error = configurationError(yaml)
        #expect(error?.path == "service.pipelines.metrics.exporters[0]")
        #expect(error?.fix == "did you mean `elasticsearch`?")
    }

    @Test("a known exporter type with a name may be left undefined")
    func namedExporter() throws {
        let yaml = configuration().replacingOccurrences(of: "exporters: [elasticsearch]",
                                                        with: "exporters: [elasticsearch/primary, otlphttp]")
        let configuration = try CollectorConfiguration(yaml: yaml)
        #expect(configuration.undefinedButReferencedExporters
                == [ComponentID(type: "elasticsearch", name: "primary"), ComponentID(type: "otlphttp")])
    }

    @Test("an unknown pipeline type")
    func unknownPipelineType() {
        let yaml = configuration().replacingOccurrences(of: "    metrics:\n", with: "    metric:\n")
        let error = configurationError(yaml)
        #expect(error?.path == "service.pipelines.metric")
        #expect(error?.fix?.hasPrefix("did you mean `metrics`?") == true)
    }

    @Test("a pipeline without exporters")
    func noExporters() {
        let yaml = configuration().replacingOccurrences(of: "exporters: [elasticsearch]", with: "exporters: []")
        let error = configurationError(yaml)
        #expect(error?.path == "service.pipelines.metrics.exporters")
    }

    @Test("the connector used on one side only")
    func connectorOneSide() {
        let yaml = configuration().replacingOccurrences(
            of: "    metrics:\n      receivers: [profilingmetrics]\n      exporters: [elasticsearch]\n", with: "")
        let error = configurationError(yaml)
        #expect(error?.path == "connectors.profilingmetrics")
        #expect(error?.problem.contains("under no pipeline's receivers") == true)
    }

    @Test("the profiling receiver in a metrics pipeline")
    func receiverInWrongPipeline() {
        let yaml = configuration().replacingOccurrences(of: "receivers: [profilingmetrics]",
                                                        with: "receivers: [profilingmetrics, profiling]")
        let error = configurationError(yaml)
        #expect(error?.path == "service.pipelines.metrics.receivers[1]")
        #expect(error?.fix == "move `profiling` to a `profiles` pipeline")
    }

    @Test("a component listed twice in one pipeline")
    func listedTwice() {
        let yaml = configuration().replacingOccurrences(of: "exporters: [elasticsearch]",
                                                        with: "exporters: [elasticsearch, elasticsearch]")
        #expect(configurationError(yaml)?.path == "service.pipelines.metrics.exporters[1]")
    }

    @Test("no service section")
    func noService() {
        let error = configurationError("receivers:\n  profiling:\n")
        #expect(error?.path == "service")
    }

    @Test("an empty configuration")
    func emptyConfiguration() {
        #expect(configurationError("")?.problem == "the configuration is empty")
    }

    @Test("a section that is not a mapping")
    func sectionNotMapping() {
        let error = configurationError(configuration().replacingOccurrences(of: "receivers:\n  profiling:\n",
                                                                            with: "receivers: [profiling]\n"))
        #expect(error?.path == "receivers")
    }

    @Test("telemetry is tolerated, extensions are checked")
    func serviceExtras() throws {
        let yaml = configuration(extra: "  telemetry:\n    logs:\n      level: debug\n  extensions: [health_check]\n")
            + "\nextensions:\n  health_check:\n"
        let configuration = try CollectorConfiguration(yaml: yaml)
        #expect(configuration.telemetry?["logs"]?["level"] == .scalar("debug"))
        #expect(configuration.serviceExtensions == [ComponentID(type: "health_check")])

        let missing = configurationError(
            Self.replacing(yaml, "\nextensions:\n  health_check:\n", with: "\nextensions:\n  zpages:\n"))
        #expect(missing?.path == "service.extensions[0]")
    }

    @Test("unused components are accepted with a warning")
    func unusedComponents() throws {
        let configuration = try CollectorConfiguration(yaml: configuration() + "\nexporters:\n  file:\n    path: /tmp/m.json\n")
        #expect(configuration.warnings.contains { $0.contains("exporters.file") })
    }

    private static func replacing(_ text: String, _ old: String, with new: String) -> String {
        text.replacingOccurrences(of: old, with: new)
    }
}

@Suite("profiling receiver settings")
struct ProfilingReceiverSettingsTests {
    private func settings(_ body: String) throws -> ProfilingReceiverSettings {
        try CollectorConfiguration(yaml: configuration(receiver: body)).profilingReceiver
    }

    @Test("defaults")
    func defaults() throws {
        let settings = try settings("")
        #expect(settings == ProfilingReceiverSettings())
        #expect(settings.samplesPerSecond == 19)
        #expect(settings.probabilisticThreshold == 100)
        #expect(settings.probabilisticInterval == .seconds(60))
        #expect(settings.reporterInterval == .seconds(5))
        #expect(settings.tracers == "all")
        #expect(settings.walksPython)
        #expect(!settings.sendErrorFrames && !settings.sendIdleFrames)
        #expect(settings.endpoint == "/run/tandem/tandem.sock")
        #expect(settings.allowedUIDs == [0])
        #expect(settings.maxConnections == 16)
    }

    @Test("every key")
    func everyKey() throws {
        let settings = try settings("""
                samples_per_second: 99
                off_cpu_threshold: 0.5
                probabilistic_threshold: 50
                probabilistic_interval: 2m
                reporter_interval: 10s
                tracers: native,go
                send_error_frames: true
                send_idle_frames: true
                endpoint: /run/t.sock
                allowed_uids: [0, 998]
                max_connections: 4
            """)
        #expect(settings.samplesPerSecond == 99)
        #expect(settings.offCPUThreshold == 0.5)
        #expect(settings.probabilisticThreshold == 50)
        #expect(settings.probabilisticInterval == .seconds(120))
        #expect(settings.reporterInterval == .seconds(10))
        #expect(settings.tracers == "native,go")
        #expect(!settings.walksPython)
        #expect(try self.settings("    tracers: native, python").walksPython)
        #expect(settings.sendErrorFrames && settings.sendIdleFrames)
        #expect(settings.endpoint == "/run/t.sock")
        #expect(settings.allowedUIDs == [0, 998])
        #expect(settings.maxConnections == 4)
    }

    @Test("both spellings of the rate: equal is fine, different is refused")
    func bothSpellings() throws {
        #expect(try settings("    samples_per_second: 20\n    SamplesPerSecond: 20").samplesPerSecond == 20)
        let error = configurationError(configuration(receiver: "    samples_per_second: 20\n    SamplesPerSecond: 19"))
        #expect(error?.path == "receivers.profiling.SamplesPerSecond")
    }

    @Test("invalid values name the key", arguments: [
        ("    samples_per_second: 0", "receivers.profiling.samples_per_second"),
        ("    samples_per_second: 10001", "receivers.profiling.samples_per_second"),
        ("    SamplesPerSecond: fast", "receivers.profiling.SamplesPerSecond"),
        ("    probabilistic_threshold: 101", "receivers.profiling.probabilistic_threshold"),
        ("    off_cpu_threshold: 2", "receivers.profiling.off_cpu_threshold"),
        ("    probabilistic_interval: 0s", "receivers.profiling.probabilistic_interval"),
        ("    reporter_interval: 5", "receivers.profiling.reporter_interval"),
        ("    tracers: all,pyhton", "receivers.profiling.tracers"),
        ("    send_idle_frames: yes", "receivers.profiling.send_idle_frames"),
        ("    endpoint: tandem.sock", "receivers.profiling.endpoint"),
        ("    allowed_uids: []", "receivers.profiling.allowed_uids"),
        ("    allowed_uids: [root]", "receivers.profiling.allowed_uids[0]"),
        ("    allowed_uids: 0", "receivers.profiling.allowed_uids"),
        ("    max_connections: 0", "receivers.profiling.max_connections"),
        ("    max_connections: 1025", "receivers.profiling.max_connections"),
        ("    max_connections: many", "receivers.profiling.max_connections"),
    ])
    func invalid(body: String, path: String) {
        #expect(configurationError(configuration(receiver: body))?.path == path)
    }

    @Test("a duration without a unit suggests one")
    func durationWithoutUnit() {
        let error = configurationError(configuration(receiver: "    reporter_interval: 5"))
        #expect(error?.fix == "write a unit, e.g. `5s`")
    }

    @Test("a misspelt max_connections gets a suggestion")
    func maxConnectionsSuggestion() {
        let error = configurationError(configuration(receiver: "    max_conections: 4"))
        #expect(error?.fix == "did you mean `max_connections`?")
    }

    @Test("a misspelt tracer gets a suggestion")
    func tracerSuggestion() {
        let error = configurationError(configuration(receiver: "    tracers: all,pyhton"))
        #expect(error?.fix == "did you mean `python`?")
    }
}
