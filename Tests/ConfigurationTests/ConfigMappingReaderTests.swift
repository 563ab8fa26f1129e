import Configuration
import Testing

@Suite("ConfigMappingReader, as component layers use it")
struct ConfigReaderTests {
    @Test("reads typed values of an exporter's settings")
    func typedValues() throws {
        let configuration = try CollectorConfiguration(yaml: """
            receivers: { profiling: }
            connectors: { profilingmetrics: }
            exporters:
              otlphttp:
                endpoint: http://localhost:4318
                timeout: 10s
                compression: true
                retries: 3
                headers_list: [a, b]
            service:
              pipelines:
                profiles: { receivers: [profiling], exporters: [profilingmetrics] }
                metrics: { receivers: [profilingmetrics], exporters: [otlphttp] }
            """)
        let exporter = try #require(configuration.exporters(for: .metrics).first)
        let reader = try ConfigMappingReader(exporter.node, path: exporter.path, locations: configuration.document.locations)
        try reader.requireOnlyKeys(["endpoint", "timeout", "compression", "retries", "headers_list"])
        #expect(try reader.string("endpoint") == "http://localhost:4318")
        #expect(try reader.duration("timeout") == .seconds(10))
        #expect(try reader.bool("compression") == true)
        #expect(try reader.integer("retries", in: 0...10) == 3)
        #expect(try reader.stringList("headers_list") == ["a", "b"])
        #expect(try reader.string("missing") == nil)

        let error = #expect(throws: ConfigurationError.self) {
            try reader.requireOnlyKeys(["endpoint", "timeout", "compression", "retries", "header_list"])
        }
        #expect(error?.path == "exporters.otlphttp.headers_list")
        #expect(error?.fix == "did you mean `header_list`?")
        #expect(error?.line == 9)
    }

    @Test("refuses a scalar where a mapping belongs")
    func notMapping() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigMappingReader(.scalar("x"), path: "exporters.file")
        }
        #expect(error?.path == "exporters.file")
    }

    @Test("ConfigNode parses YAML directly")
    func nodeFromYAML() throws {
        #expect(try ConfigNode(yaml: "a: [1, 2]") == .mapping([ConfigEntry(key: "a", value: .sequence([.scalar("1"), .scalar("2")]))]))
    }
}
