import Configuration
import Foundation
import SamplerCore
import SamplingRateReader
import Testing

/// `receivers.profiling.off_cpu_threshold` as the sampler reads it (as root, before it drops
/// its capabilities) and as the aggregator validates it: one spelling, plain decimals in [0, 1].
@Suite("off-CPU threshold reader")
struct OffCPUThresholdReaderTests {
    static func read(_ value: String, path: String = "tandem.yml") throws(SamplingRateReader.Problem) -> Double? {
        try SamplingRateReader.settings(in: Array("receivers:\n  profiling:\n    off_cpu_threshold: \(value)\n".utf8),
                                        path: path).offCPUThreshold
    }

    @Test("reads plain decimals from 0 to 1", arguments: [
        ("0", 0.0), ("1", 1.0), ("0.01", 0.01), ("0.1", 0.1), ("0.5 # half", 0.5), ("1.0", 1.0),
        ("1.000000000", 1.0), ("0.000000001", 1e-9), ("0.999999999", 0.999999999), ("0.00", 0.0),
    ])
    func accepted(value: String, expected: Double) throws {
        #expect(try Self.read(value) == expected)
    }

    @Test("refuses what is not a plain decimal share, with the line and a fix", arguments: [
        ("", "no value"), ("1e-2", "plain decimal"), ("+0.5", "plain decimal"), ("-0", "plain decimal"),
        (".5", "plain decimal"), ("0.", "plain decimal"), ("00.5", "plain decimal"), ("0x1p-3", "plain decimal"),
        (".nan", "plain decimal"), (".inf", "plain decimal"), ("nan", "plain decimal"), ("\"0.5\"", "plain decimal"),
        ("2", "plain decimal"), ("1.5", "above 1"), ("1.000000001", "above 1"), ("0.0000000001", "more than 9 digits"),
        ("0.5.1", "plain decimal"), ("0,5", "plain decimal"), ("0.5x", "plain decimal"), ("[0.5]", "plain decimal"),
        ("1_0", "plain decimal"), ("0.1234567890123456789012345678901234567890123", "more than 9 digits"),
    ])
    func refused(value: String, reason: String) {
        #expect {
            try Self.read(value, path: "/etc/tandem/tandem.yml")
        } throws: { error in
            guard let problem = error as? SamplingRateReader.Problem else { return false }
            return problem.line == 3 && problem.description.hasPrefix("/etc/tandem/tandem.yml:3: `receivers.profiling.off_cpu_threshold`")
                && problem.description.contains(reason) && !problem.fix.isEmpty
        }
    }

    @Test("refuses a second threshold and the older percentage spelling")
    func duplicatesAndOlderSpelling() {
        #expect(throws: SamplingRateReader.Problem.self) {
            try SamplingRateReader.settings(in: Array("receivers:\n  profiling:\n    off_cpu_threshold: 0.1\n    off_cpu_threshold: 0.1\n".utf8), path: "x")
        }
        #expect {
            try SamplingRateReader.settings(in: Array("receivers:\n  profiling:\n    OffCPUThreshold: 10\n".utf8), path: "x")
        } throws: { error in
            (error as? SamplingRateReader.Problem).map { $0.line == 3 && $0.fix.contains("off_cpu_threshold: 0.01") } ?? false
        }
        #expect(throws: (any Error).self) {
            try CollectorConfiguration(yaml: SamplingRateReaderTests.packaged(profiling: "    OffCPUThreshold: 10"), environment: [:])
        }
    }

    @Test("reads both settings of one file; absent keys stay unset")
    func bothSettings() throws {
        let settings = try SamplingRateReader.settings(
            in: Array("receivers:\n  profiling:\n    samples_per_second: 49\n    off_cpu_threshold: 0.25\n".utf8), path: "x")
        #expect(settings == SamplingRateReader.Settings(samplesPerSecond: 49, offCPUThreshold: 0.25))
        #expect(try SamplingRateReader.settings(in: Array("receivers:\n  profiling:\n    samples_per_second: 49\n".utf8), path: "x").offCPUThreshold == nil)
    }

    /// What the sampler accepts, the aggregator reads as the same share (both spell-check with
    /// `SamplingRateReader.offCPUThreshold(plain:)`); the sampler alone also refuses a quoted
    /// value, which the aggregator's YAML tree no longer tells from a plain one.
    @Test("agrees with the aggregator's Configuration", arguments: [
        "0", "1", "0.01", "0.1 # a tenth", "1e-2", "2", "-0.5", "0x1p-3", ".5", "\"0.5\"", "0.0000000001", ".nan",
    ])
    func agreement(value: String) {
        let text = SamplingRateReaderTests.packaged(profiling: "    off_cpu_threshold: \(value)")
        let sampler = Result { () throws(SamplingRateReader.Problem) in try SamplingRateReader.settings(in: Array(text.utf8), path: "x").offCPUThreshold }
        let aggregator = Result { try CollectorConfiguration(yaml: text, environment: [:]).profilingReceiver.offCPUThreshold }
        switch (sampler, aggregator) {
        case (.success(let share), .success(let aggregatorShare)):
            #expect(share == aggregatorShare)
        case (.failure, .failure):
            break
        case (.success(let share), .failure(let error)):
            Issue.record("the sampler read \(String(describing: share)) from a file the aggregator refuses: \(error)")
        case (.failure(let problem), .success(let share)):
            if !value.hasPrefix("\"") { Issue.record("the aggregator read \(share) from a file the sampler refuses: \(problem)") }
        }
    }

    @Test("the file's threshold reaches the sampler's settings")
    func fromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("offcpu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tandem.yml").path
        try "receivers:\n  profiling:\n    off_cpu_threshold: 0.25\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ConfigurationFile.settings(path: path).offCPUThreshold == 0.25)
    }
}
