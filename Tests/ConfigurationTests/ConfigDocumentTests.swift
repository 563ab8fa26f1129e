import Configuration
import Testing

@Suite("Loading YAML")
struct ConfigDocumentTests {
    @Test("keeps mapping order, nulls, quoted strings and positions")
    func tree() throws {
        let document = try ConfigDocument(yaml: """
            zeta: 1
            alpha:
              empty:
              quoted: ""
              tilde: ~
              list: [a, "b"]
            """)
        #expect(document.root.keys == ["zeta", "alpha"])
        let alpha = try #require(document.root["alpha"])
        #expect(alpha.keys == ["empty", "quoted", "tilde", "list"])
        #expect(alpha["empty"] == .null)
        #expect(alpha["quoted"] == .scalar(""))
        #expect(alpha["tilde"] == .null)
        #expect(alpha["list"] == .sequence([.scalar("a"), .scalar("b")]))
        #expect(document.location(of: "alpha.quoted") == ConfigLocation(line: 4, column: 3))
        #expect(document.location(of: "alpha.list[1]") == ConfigLocation(line: 6, column: 13))
    }

    @Test("an empty document is null")
    func empty() throws {
        #expect(try ConfigDocument(yaml: "").root == .null)
        #expect(try ConfigDocument(yaml: "# only a comment\n").root == .null)
    }

    @Test("reports syntax errors with line and column")
    func syntaxError() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: "receivers:\n  profiling:\n    SamplesPerSecond: [19\nservice: {}\n")
        }
        #expect(error?.line != nil)
        #expect(error?.column != nil)
        #expect(error?.problem.contains("YAML syntax error") == true)
        #expect(error?.description.contains("line \(error?.line ?? 0)") == true)
    }

    @Test("reports a bad indentation at its line")
    func badIndentation() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: "a:\n  b: 1\n c: 2\n")
        }
        #expect(error?.line == 3)
    }

    @Test("refuses a key written twice, naming it")
    func duplicateKey() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: "connectors:\n  profilingmetrics:\n    by_frame: true\n    by_frame: false\n")
        }
        #expect(error?.problem.contains("`by_frame`") == true)
        #expect(error?.line == 3)
    }

    @Test("reports an unreadable file with its path")
    func missingFile() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(contentsOfFile: "/nonexistent/tandem.yaml")
        }
        #expect(error?.problem.contains("/nonexistent/tandem.yaml") == true)
    }
}

@Suite("Go durations")
struct GoDurationTests {
    @Test("parses Go's syntax", arguments: [
        ("0", 0), ("0s", 0), ("30s", 30_000_000_000), ("1m", 60_000_000_000), ("1m30s", 90_000_000_000),
        ("250ms", 250_000_000), ("1.5h", 5_400_000_000_000), (".5s", 500_000_000), ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("10µs", 10_000), ("10μs", 10_000), ("+5s", 5_000_000_000), ("-5s", -5_000_000_000), ("100ns", 100),
    ] as [(String, Int64)])
    func parses(text: String, nanoseconds: Int64) throws {
        #expect(try GoDuration.nanoseconds(parsing: text) == nanoseconds)
    }

    @Test("refuses what Go refuses", arguments: ["", "s", "30", "1x", "1.s5", "--1s", ".s", "1ms2", "9999999999999h"])
    func refuses(text: String) {
        #expect(throws: GoDuration.ParseError.self) { try GoDuration.nanoseconds(parsing: text) }
    }

    @Test("formats like Go", arguments: [
        (0, "0s"), (30_000_000_000, "30s"), (90_000_000_000, "1m30s"), (250_000_000, "250ms"),
        (3_600_000_000_000, "1h0m0s"), (1_500, "1.5µs"), (-2_000_000_000, "-2s"),
    ] as [(Int64, String)])
    func formats(nanoseconds: Int64, text: String) {
        #expect(GoDuration.format(nanoseconds: nanoseconds) == text)
    }
}

@Suite("Component ids")
struct ComponentIDTests {
    @Test("parses type and name")
    func parses() {
        #expect(ComponentID(parsing: "elasticsearch") == ComponentID(type: "elasticsearch"))
        #expect(ComponentID(parsing: "otlphttp/backup") == ComponentID(type: "otlphttp", name: "backup"))
        #expect(ComponentID(parsing: "metrics/a/b") == ComponentID(type: "metrics", name: "a/b"))
        #expect(ComponentID(type: "otlphttp", name: "backup").description == "otlphttp/backup")
    }

    @Test("refuses malformed ids", arguments: ["", "/x", "x/", "1abc", "a b", "a-b", "x/a b"])
    func refuses(text: String) {
        #expect(ComponentID(parsing: text) == nil)
    }
}

@Suite("Environment variables in values")
struct EnvironmentExpansionTests {
    let environment = ["ES_KEY": "secret", "HOST": "es.local", "EMPTY": ""]

    @Test("expands as the Collector does", arguments: [
        ("${env:ES_KEY}", "secret"),
        ("https://${env:HOST}:9200", "https://es.local:9200"),
        ("${HOST}", "es.local"),
        ("${env:MISSING:-fallback}", "fallback"),
        ("${env:EMPTY:-fallback}", "fallback"),
        ("${env:HOST:-fallback}", "es.local"),
        ("cost $$5", "cost $5"),
        ("a $ b", "a $ b"),
        ("plain", "plain"),
    ])
    func expands(text: String, expected: String) throws {
        let document = try ConfigDocument(yaml: "key: \"\(text)\"", environment: environment)
        #expect(document.root["key"] == .scalar(expected))
        #expect(document.warnings.isEmpty)
    }

    @Test("an unset variable becomes empty, with a warning naming it")
    func unset() throws {
        let document = try ConfigDocument(yaml: "exporters:\n  elasticsearch:\n    api_key: ${env:NOPE}\n",
                                          environment: environment)
        #expect(document.root["exporters"]?["elasticsearch"]?["api_key"] == .scalar(""))
        #expect(document.warnings == ["exporters.elasticsearch.api_key: environment variable NOPE is not set; using an empty value"])
        let configuration = try CollectorConfiguration(yaml: """
            receivers: { profiling: { endpoint: "${env:NOPE:-/run/tandem/tandem.sock}" } }
            connectors: { profilingmetrics: }
            exporters: { elasticsearch: { api_key: "${env:NOPE}" } }
            service:
              pipelines:
                profiles: { receivers: [profiling], exporters: [profilingmetrics] }
                metrics: { receivers: [profilingmetrics], exporters: [elasticsearch] }
            """, environment: environment)
        #expect(configuration.warnings.contains { $0.contains("NOPE is not set") })
    }

    @Test("malformed references are refused with their path", arguments: [
        "${env:HOST", "${file:/etc/key}", "${env:}", "${env:A B}",
    ])
    func malformed(text: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: "outer:\n  key: \"\(text)\"", environment: environment)
        }
        #expect(error?.path == "outer.key")
        #expect(error?.line == 2)
    }
}
