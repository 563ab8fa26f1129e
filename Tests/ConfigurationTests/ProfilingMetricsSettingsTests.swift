import Configuration
import Testing

private let counts = Set(ProfilingMetric.allCases.filter(\.isCount))

/// Reads `connectors.profilingmetrics` from YAML lines (indented under it).
private func settings(_ body: String) throws -> ProfilingMetricsSettings {
    let yaml = "connectors:\n  profilingmetrics:\n" + body.split(separator: "\n", omittingEmptySubsequences: false)
        .map { "    " + $0 }.joined(separator: "\n")
    let document = try ConfigDocument(yaml: yaml)
    return try ProfilingMetricsSettings(node: document.root["connectors"]?["profilingmetrics"],
                                        path: "connectors.profilingmetrics", locations: document.locations)
}

private func settingsError(_ body: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigurationError? {
    #expect(throws: ConfigurationError.self, sourceLocation: sourceLocation) { try settings(body) }
}

@Suite("profilingmetrics settings")
struct ProfilingMetricsSettingsTests {
    @Test("no keys: the newer connector's defaults")
    func defaults() throws {
        let settings = try settings("")
        #expect(settings.generation == .defaults)
        #expect(settings.enabledMetrics == counts)
        #expect(settings.flushInterval == .seconds(30))
        #expect(settings.aggregations.isEmpty)
        #expect(settings == ProfilingMetricsSettings())
    }

    // Older generation: every flag defaults to false.

    @Test("older: by_frame alone turns on the per-runtime sums only")
    func byFrame() throws {
        let settings = try settings("by_frame: true")
        #expect(settings.generation == .older)
        #expect(settings.enabledMetrics == counts)
        #expect(settings.flushInterval == .zero)
    }

    @Test("older: by_frametype alone turns on samples.frame_type only")
    func byFrameType() throws {
        let settings = try settings("by_frametype: true")
        #expect(settings.enabledMetrics == [.frameType])
    }

    @Test("older: by_classification alone turns on samples.classification only")
    func byClassification() throws {
        let settings = try settings("by_classification: true")
        #expect(settings.enabledMetrics == [.classification])
    }

    @Test("older: all flags false turns everything off")
    func allFalse() throws {
        let settings = try settings("by_frame: false\nby_frametype: false\nby_classification: false")
        #expect(settings.enabledMetrics.isEmpty)
    }

    // Newer generation.

    @Test("newer: gauges enabled through metrics, sums stay on")
    func newerGauges() throws {
        let settings = try settings("""
            flush_interval: 1m
            metrics:
              samples.frame_type: { enabled: true }
              samples.classification:
                enabled: true
            """)
        #expect(settings.generation == .newer)
        #expect(settings.flushInterval == .seconds(60))
        #expect(settings.enabledMetrics == counts.union([.frameType, .classification]))
    }

    @Test("newer: any metric may be turned off")
    func newerOff() throws {
        let settings = try settings("metrics:\n  samples.native.count: { enabled: false }")
        #expect(settings.enabledMetrics == counts.subtracting([.native]))
        #expect(settings.warnings.isEmpty)
    }

    @Test("newer: only one of user and kernel counts gives a warning")
    func userWithoutKernel() throws {
        let settings = try settings("metrics:\n  samples.kernel.count: { enabled: false }")
        #expect(settings.warnings.count == 1)
    }

    @Test("newer: 0s flush interval means per batch")
    func zeroFlush() throws {
        #expect(try settings("flush_interval: 0s").flushInterval == .zero)
    }

    @Test("newer: aggregations turn samples.custom_aggregation on")
    func aggregations() throws {
        let settings = try settings("""
            aggregations:
              - match: "^(malloc|free|realloc)$"
                label: allocator
              - match: "^std::"
                label: stdlib
            """)
        #expect(settings.aggregations == [CustomAggregation(match: "^(malloc|free|realloc)$", label: "allocator"),
                                          CustomAggregation(match: "^std::", label: "stdlib")])
        #expect(settings.isEnabled(.customAggregation))
    }

    @Test("newer: custom aggregation can be disabled explicitly")
    func aggregationsDisabled() throws {
        let settings = try settings("""
            aggregations: [ { match: x, label: y } ]
            metrics: { samples.custom_aggregation: { enabled: false } }
            """)
        #expect(!settings.isEnabled(.customAggregation))
    }

    // Mixed documents.

    @Test("mixed: older flags decide their metrics; flush_interval from the newer")
    func mixed() throws {
        let settings = try settings("by_frame: true\nby_frametype: true\nflush_interval: 10s")
        #expect(settings.generation == .mixed)
        #expect(settings.enabledMetrics == counts.union([.frameType]))
        #expect(settings.flushInterval == .seconds(10))
    }

    @Test("mixed: an explicit metric entry overrides the older default of false")
    func mixedExplicit() throws {
        let settings = try settings("by_frametype: true\nmetrics: { samples.user.count: { enabled: true } }")
        #expect(settings.enabledMetrics == [.frameType, .user])
    }

    @Test("mixed: agreeing older flag and metric entry are fine")
    func mixedAgree() throws {
        let settings = try settings("by_classification: true\nmetrics: { samples.classification: { enabled: true } }")
        #expect(settings.enabledMetrics == [.classification])
    }

    @Test("mixed: a contradiction is refused")
    func contradiction() {
        let error = settingsError("by_frametype: false\nmetrics:\n  samples.frame_type: { enabled: true }")
        #expect(error?.path == "connectors.profilingmetrics.metrics.samples.frame_type.enabled")
        #expect(error?.problem == "`enabled: true` contradicts `by_frametype: false`")
    }

    // Errors.

    @Test("invalid values name their path", arguments: [
        ("by_frame: maybe", "connectors.profilingmetrics.by_frame"),
        ("flush_interval: soon", "connectors.profilingmetrics.flush_interval"),
        ("flush_interval: -1s", "connectors.profilingmetrics.flush_interval"),
        ("metrics: { samples.frametype: { enabled: true } }", "connectors.profilingmetrics.metrics.samples.frametype"),
        ("metrics: { samples.frame_type: { enable: true } }", "connectors.profilingmetrics.metrics.samples.frame_type.enable"),
        ("metrics: { samples.frame_type: true }", "connectors.profilingmetrics.metrics.samples.frame_type"),
        ("aggregations: { match: x }", "connectors.profilingmetrics.aggregations"),
        ("aggregations: [ { match: x } ]", "connectors.profilingmetrics.aggregations[0]"),
        ("aggregations: [ { label: x } ]", "connectors.profilingmetrics.aggregations[0]"),
        ("aggregations: [ { match: '', label: x } ]", "connectors.profilingmetrics.aggregations[0].match"),
        ("aggregations: [ { match: x, label: y, extra: z } ]", "connectors.profilingmetrics.aggregations[0].extra"),
    ])
    func invalid(body: String, path: String) {
        #expect(settingsError(body)?.path == path)
    }

    @Test("a misspelt metric name gets the closest name")
    func metricSuggestion() {
        #expect(settingsError("metrics: { samples.frametype: { enabled: true } }")?.fix
                == "did you mean `samples.frame_type`?")
    }

    @Test("both aggregation keys are required")
    func aggregationKeys() {
        let error = settingsError("aggregations:\n  - match: \"^malloc$\"")
        #expect(error?.problem == "aggregation 0 has no `label`; both `match` and `label` are required")
    }

    @Test("RE2 expressions: one-letter Unicode classes are accepted")
    func re2Classes() throws {
        let settings = try settings("aggregations: [ { match: '^\\pL+$', label: letters }, { match: '\\PL', label: other } ]")
        let letters = try settings.aggregations[0].regex()
        #expect("malloc".contains(letters))
        #expect(!"m1".contains(letters))
        #expect("m1".contains(try settings.aggregations[1].regex()))
        #expect(try "a.b".contains(CustomAggregation(match: #"\\pL\.\p{L}"#, label: "x").regex()) == false)
    }

    @Test("a regular expression that does not compile is named")
    func badRegex() {
        let error = settingsError("aggregations:\n  - match: \"(unclosed\"\n    label: broken")
        #expect(error?.path == "connectors.profilingmetrics.aggregations[0].match")
        #expect(error?.problem.contains("`(unclosed`") == true)
        #expect(error?.problem.contains("`broken`") == true)
        #expect(error?.line == 4)
    }
}
