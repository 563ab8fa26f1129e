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

    @Test("a choice, a mapping of strings and a nested mapping")
    func choicesMapsAndNesting() throws {
        let reader = try ConfigMappingReader(try ConfigNode(yaml: """
            encoding: protobuf
            headers: { X-A: a, X-Empty: }
            bad_headers: { X-List: [a] }
            retry: { enabled: true, max_intervl: 1s }
            """), path: "exporters.otlphttp")
        let choice = #expect(throws: ConfigurationError.self) { try reader.choice("encoding", among: ["proto", "json"]) }
        #expect(choice?.path == "exporters.otlphttp.encoding")
        #expect(choice?.fix == "did you mean `proto`?")
        #expect(try reader.choice("missing", among: ["proto"]) == nil)
        let headers = try #require(try reader.stringMap("headers"))
        #expect(headers.map(\.name) == ["X-A", "X-Empty"])
        #expect(headers.map(\.value) == ["a", ""])
        let badHeader = #expect(throws: ConfigurationError.self) { try reader.stringMap("bad_headers") }
        #expect(badHeader?.path == "exporters.otlphttp.bad_headers.X-List")
        let notMap = #expect(throws: ConfigurationError.self) { try reader.stringMap("encoding") }
        #expect(notMap?.path == "exporters.otlphttp.encoding")
        let retry = try reader.mapping("retry")
        #expect(retry.path == "exporters.otlphttp.retry")
        #expect(try retry.bool("enabled") == true)
        let nested = #expect(throws: ConfigurationError.self) { try retry.requireOnlyKeys(["enabled", "max_interval"]) }
        #expect(nested?.path == "exporters.otlphttp.retry.max_intervl")
        #expect(nested?.fix == "did you mean `max_interval`?")
        #expect(try reader.mapping("absent").keys.isEmpty)
    }

    @Test("suggestions: near by edit distance, else a valid name the word extends or abbreviates")
    func suggestions() {
        #expect(KeySuggestion.closest(to: "compresion", in: ["compression", "encoding"]) == "compression")
        #expect(KeySuggestion.closest(to: "protobuf", in: ["proto", "json"]) == "proto")
        #expect(KeySuggestion.closest(to: "elastic", in: ["file", "elasticsearch"]) == "elasticsearch")
        #expect(KeySuggestion.closest(to: "endpoint_url", in: ["endpoint", "headers"]) == "endpoint")
        // Too short to be a likely abbreviation, and too far to be a typo.
        #expect(KeySuggestion.closest(to: "en", in: ["endpoint", "headers"]) == nil)
        #expect(KeySuggestion.closest(to: "completely_unrelated", in: ["by_frame", "by_frametype"]) == nil)
        #expect(KeySuggestion.fix(for: "zstd", candidates: ["gzip", "none", ""], noun: "values")
                == "valid values: `gzip`, `none`, `\"\"`")
    }

    @Test("ConfigNode parses YAML directly")
    func nodeFromYAML() throws {
        #expect(try ConfigNode(yaml: "a: [1, 2]") == .mapping([ConfigEntry(key: "a", value: .sequence([.scalar("1"), .scalar("2")]))]))
    }
}
