import Foundation
@testable import SamplerCore
import SystemCalls
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("configuration")
struct ConfigurationTests {
    static let collectorShaped = """
        receivers:
          profiling:
            SamplesPerSecond: 19
        connectors:
          profilingmetrics:
            by_frame: true
        exporters:
          elasticsearch:
            endpoints: ["http://localhost:9200"]
        service:
          pipelines:
            profiles:
              receivers: [profiling]
              exporters: [profilingmetrics]
        """

    @Test("reads receivers.profiling.SamplesPerSecond of the collector-shaped YAML")
    func samplesPerSecond() throws {
        #expect(try ConfigurationFile.settings(yaml: Self.collectorShaped).samplesPerSecond == 19)
    }

    @Test("reads the snake_case spelling too")
    func snakeCase() throws {
        let yaml = "receivers:\n  profiling:\n    samples_per_second: 99\n"
        #expect(try ConfigurationFile.settings(yaml: yaml).samplesPerSecond == 99)
    }

    @Test("no profiling receiver: nothing set")
    func absent() throws {
        #expect(try ConfigurationFile.settings(yaml: "exporters: {}\n").samplesPerSecond == nil)
        #expect(try ConfigurationFile.settings(yaml: "").samplesPerSecond == nil)
    }

    @Test("bad values name the key", arguments: [
        "receivers:\n  profiling:\n    SamplesPerSecond: fast\n",
        "receivers:\n  profiling:\n    SamplesPerSecond: -3\n",
        "receivers:\n  profiling:\n    SamplesPerSecond: [1, 2]\n",
    ])
    func badValue(yaml: String) {
        #expect {
            try ConfigurationFile.settings(yaml: yaml, path: "x.yaml")
        } throws: { error in
            "\(error)".contains("x.yaml:3: `receivers.profiling.SamplesPerSecond` must be a whole number")
        }
    }

    @Test("both spellings with different values are refused")
    func conflicting() {
        let yaml = "receivers:\n  profiling:\n    SamplesPerSecond: 19\n    samples_per_second: 99\n"
        #expect(throws: SamplerError.self) { try ConfigurationFile.settings(yaml: yaml) }
    }

    @Test("YAML it does not read is refused with the file and line")
    func unreadYAML() {
        #expect {
            try ConfigurationFile.settings(yaml: "receivers: [unclosed\n", path: "broken.yaml")
        } throws: { error in
            "\(error)".contains("broken.yaml:1: `receivers` must be a block mapping")
        }
    }

    @Test("the file must be a regular file: a FIFO is refused without blocking")
    func notRegularFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-config-\(getpid()).fifo").path
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        #expect {
            try ConfigurationFile.settings(path: path)
        } throws: { error in
            "\(error)".contains("\(path) is a FIFO, not a regular file")
        }
    }

    @Test("reads the packaged configuration file from disk")
    func packagedFile() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(try ConfigurationFile.settings(path: repository.appendingPathComponent("packaging/tandem.yml").path).samplesPerSecond == 19)
    }

    @Test("validate() refuses out-of-range options")
    func validation() throws {
        var configuration = SamplerConfiguration(destination: .file(path: "/tmp/x"))
        try configuration.validate()
        configuration.ringBufferBytes = 100_000
        #expect(throws: SamplerError.self) { try configuration.validate() }
        configuration.ringBufferBytes = 1 << 20
        try configuration.validate()
        configuration.ringBufferBytes = nil
        configuration.durationSeconds = -1
        #expect(throws: SamplerError.self) { try configuration.validate() }
        configuration.durationSeconds = nil
        configuration.destination = .socket(path: String(repeating: "s", count: 200))
        #expect(throws: SamplerError.self) { try configuration.validate() }
    }

    @Test("the default ring buffer holds four seconds of samples, at least 8 MiB, as a power of two")
    func ringBufferSize() {
        #expect(SamplerConfiguration.defaultRingBufferBytes(samplesPerSecond: 19, cpus: 2) == 8 << 20)
        #expect(SamplerConfiguration.defaultRingBufferBytes(samplesPerSecond: 999, cpus: 2) == 16 << 20)
        #expect(SamplerConfiguration.defaultRingBufferBytes(samplesPerSecond: 100_000, cpus: 512) == 1 << 30)
    }

    @Test("errors name what is missing and how to fix it")
    func errorDescriptions() {
        let missing = SamplerError.missingCapabilities([.bpf, .perfmon]).description
        #expect(missing.contains("CAP_BPF, CAP_PERFMON"))
        let paranoid = SamplerError.perfEventParanoid(level: 3, SystemCallError("perf_event_open(cpu-clock, cpu 0)", errno: 13)).description
        #expect(paranoid.contains("perf_event_paranoid is 3"))
        #expect(paranoid.contains("errno 13"))
        #expect(SamplerError.cpuHotplug(unsampledCPUs: [2, 3]).description.contains("CPU(s) 2,3"))
        #expect(SamplerError.btfUnavailable(path: "/sys/kernel/btf/vmlinux").description.contains("CONFIG_DEBUG_INFO_BTF"))
    }
}
