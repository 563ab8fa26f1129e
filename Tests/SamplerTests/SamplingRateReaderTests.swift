import Configuration
import Foundation
import SamplingRateReader
import Testing
import WireFormat

/// The sampler's reader of the one key it takes from the shared configuration: strict,
/// with errors naming the file and line, and never a rate other than the aggregator's.
@Suite("sampling rate reader")
struct SamplingRateReaderTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The configuration tandem installs (packaging/tandem.yml).
    static let packaged = try! String(contentsOf: repository.appendingPathComponent("packaging/tandem.yml"), encoding: .utf8)

    /// The configuration of the Kubernetes ConfigMap: the block under `tandem.yml: |`.
    static let configMap: String = {
        let manifest = try! String(contentsOf: repository.appendingPathComponent("packaging/kubernetes/tandem.yaml"), encoding: .utf8)
        var lines: [Substring] = []
        var inside = false
        for line in manifest.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("tandem.yml: |") { inside = true; continue }
            guard inside else { continue }
            if !line.isEmpty && !line.hasPrefix("    ") { break }
            lines.append(line.dropFirst(min(4, line.count)))
        }
        return lines.joined(separator: "\n")
    }()

    static func read(_ text: String, path: String = "tandem.yml") throws(SamplingRateReader.Problem) -> Int? {
        try SamplingRateReader.settings(in: Array(text.utf8), path: path).samplesPerSecond
    }

    /// The packaged configuration with its `profiling` receiver's settings replaced by `settings`
    /// (lines indented four spaces).
    static func packaged(profiling settings: String) -> String {
        var out: [String] = []
        var skipping = false
        for line in packaged.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "  profiling:" {
                out.append(String(line))
                out.append(settings)
                skipping = true
                continue
            }
            if skipping {
                if line.hasPrefix("    ") || line.isEmpty { continue }
                skipping = false
            }
            out.append(String(line))
        }
        return out.joined(separator: "\n")
    }

    @Test("reads the rate of the packaged and the ConfigMap configuration")
    func shippedConfigurations() throws {
        #expect(try Self.read(Self.packaged) == 19)
        #expect(try Self.read(Self.configMap) == 19)
    }

    @Test("reads either spelling, comments, CRLF, a BOM, a leading ---, other indentation", arguments: [
        ("receivers:\n  profiling:\n    samples_per_second: 99\n", 99),
        ("receivers:\n  profiling:\n    SamplesPerSecond: 49 # older spelling\n", 49),
        ("receivers:\r\n  profiling:\r\n    samples_per_second: 7\r\n", 7),
        ("\u{FEFF}receivers:\n  profiling:\n    samples_per_second: 8\n", 8),
        ("---\n# tandem\nreceivers:  # the sources\n    profiling:\n        endpoint: /run/x.sock\n        samples_per_second: 5\n", 5),
        ("receivers:\n  otlp:\n    protocols:\n      grpc: {}\n  profiling:\n    allowed_uids: [0, 1000]\n    samples_per_second: 10000\n", 10000),
        ("receivers:\n  profiling:\n    samples_per_second: 3\n    SamplesPerSecond: 3\n", 3),
    ])
    func accepted(text: String, rate: Int) throws {
        #expect(try Self.read(text) == rate)
    }

    @Test("no receivers.profiling or no key: nothing set", arguments: [
        "", "# only a comment\n", "exporters:\n  file:\n    path: /tmp/x\n",
        "receivers:\n  profiling:\n    endpoint: /run/tandem/tandem.sock\n",
        "receivers:\n  otlp:\n    samples_per_second: 99\n",
    ])
    func absent(text: String) throws {
        #expect(try Self.read(text) == nil)
    }

    @Test("refuses what it could misread, naming file, line and fix", arguments: [
        ("receivers: {profiling: {samples_per_second: 5}}\n", 1, "block mapping"),
        ("receivers:\n  profiling: &p\n    samples_per_second: 5\n", 2, "block mapping"),
        ("receivers:\n  profiling:\n    samples_per_second: \"19\"\n", 3, "whole number"),
        ("receivers:\n  profiling:\n    samples_per_second: 1_000\n", 3, "whole number"),
        ("receivers:\n  profiling:\n    samples_per_second: 019\n", 3, "whole number"),
        ("receivers:\n  profiling:\n    samples_per_second:\n", 3, "no value"),
        ("receivers:\n  profiling:\n    samples_per_second: 0\n", 3, "between 1 and 10000"),
        ("receivers:\n  profiling:\n    samples_per_second: 10001\n", 3, "between 1 and 10000"),
        ("receivers:\n  profiling:\n    SamplesPerSecond: 19\n    samples_per_second: 99\n", 3, "contradicts"),
        ("receivers:\n  profiling:\n    samples_per_second: 5\n    samples_per_second: 5\n", 4, "appears twice"),
        ("receivers:\n  profiling:\n    \"samples_per_second\": 5\n", 3, "plain `key: value`"),
        ("receivers:\n  profiling:\n    <<: *defaults\n", 3, "merge key"),
        ("receivers:\n  profiling/a:\n    samples_per_second: 5\n", 2, "named profiling receiver"),
        ("receivers:\n  profiling:\n    samples_per_second: 5\nreceivers:\n", 4, "appears twice"),
        ("receivers:\n  profiling:\n\tsamples_per_second: 5\n", 3, "tab"),
        ("receivers:\n  profiling:\n    samples_per_second: 5\n---\nreceivers:\n", 4, "second YAML document"),
        ("receivers:\n    profiling:\n  samples_per_second: 5\n", 3, "indented"),
        ("exporters: [1,\n2]\nreceivers:\n", 1, "continues on the next line"),
        ("receivers:\n  profiling:\n    samples_per_second: 5\u{0}\n", 3, "control character"),
    ])
    func refused(text: String, line: Int, reason: String) {
        #expect {
            try Self.read(text, path: "/etc/tandem/tandem.yml")
        } throws: { error in
            guard let problem = error as? SamplingRateReader.Problem else { return false }
            return problem.path == "/etc/tandem/tandem.yml" && problem.line == line
                && problem.description.contains(reason) && !problem.fix.isEmpty
                && problem.description.hasPrefix("/etc/tandem/tandem.yml:\(line): ")
        }
    }

    @Test("refuses a file above the bound before reading a line")
    func bounded() {
        let large = [UInt8](repeating: UInt8(ascii: "#"), count: SamplingRateReader.maximumBytes + 1)
        #expect(throws: SamplingRateReader.Problem.self) {
            try SamplingRateReader.settings(in: large, path: "big.yml")
        }
    }

    /// Whatever the reader accepts, the aggregator reads as the same rate (or its default when
    /// the sampler finds none); what the aggregator refuses, the reader refuses or leaves unset.
    @Test("agrees with the aggregator's Configuration on the same files", arguments: [
        "    samples_per_second: 99",
        "    SamplesPerSecond: 49",
        "    samples_per_second: 10000  # the most",
        "    endpoint: /run/tandem/tandem.sock\n    allowed_uids: [0]\n    samples_per_second: 1",
        "    samples_per_second: 5\n    SamplesPerSecond: 5",
        "    endpoint: /run/tandem/tandem.sock",
        "    samples_per_second: 10001",
        "    samples_per_second: 0",
        "    samples_per_second: fast",
        "    SamplesPerSecond: 19\n    samples_per_second: 99",
        "    samples_per_second: \"19\"",
    ])
    func agreement(settings: String) throws {
        let text = Self.packaged(profiling: settings)
        let sampler = Result { () throws(SamplingRateReader.Problem) in try Self.read(text) }
        let aggregator = Result { try CollectorConfiguration(yaml: text, environment: [:]).profilingReceiver.samplesPerSecond }
        switch (sampler, aggregator) {
        case (.success(let rate), .success(let aggregatorRate)):
            #expect((rate ?? SamplingRate.defaultSamplesPerSecond) == aggregatorRate)
        case (.success(let rate), .failure(let error)):
            Issue.record("the sampler read \(String(describing: rate)) from a file the aggregator refuses: \(error)")
        case (.failure, _):
            break  // stricter than the aggregator: refused, never misread
        }
    }

    @Test("the shipped configurations read alike in both daemons")
    func shippedAgreement() throws {
        for text in [Self.packaged, Self.configMap] {
            let aggregator = try CollectorConfiguration(yaml: text, environment: [:]).profilingReceiver.samplesPerSecond
            #expect(try Self.read(text) == aggregator)
        }
    }

    @Test("one range for every place that takes a rate")
    func oneRange() {
        #expect(SamplingRate.problem(with: SamplingRate.range.lowerBound) == nil)
        #expect(SamplingRate.problem(with: SamplingRate.range.upperBound) == nil)
        #expect(SamplingRate.problem(with: SamplingRate.range.upperBound + 1) != nil)
        #expect(SamplingRate.problem(with: 0) != nil)
        #expect(SamplingRate.range.contains(SamplingRate.defaultSamplesPerSecond))
        #expect(ProfilingReceiverSettings().samplesPerSecond == SamplingRate.defaultSamplesPerSecond)
    }
}
