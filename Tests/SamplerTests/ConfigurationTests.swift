import CTandemBPF
import Foundation
import SamplerConfigurationFile
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

    @Test("the drain interval leaves the ring buffer at least half empty; a default ring below the cap never shortens it",
          arguments: [19, 99, 999])
    func drainInterval(samplesPerSecond: Int) {
        var configuration = SamplerConfiguration(destination: .file(path: "x"))
        configuration.samplesPerSecond = samplesPerSecond
        let recordBytes = UInt64(MemoryLayout<tandem_sample_event>.size + 8)
        for cpus in [1, 2, 64, 512] {
            let adaptive = SamplerConfiguration.adaptiveDrainInterval(samplesPerSecond: samplesPerSecond, cpus: cpus)
            let defaultRing = SamplerConfiguration.defaultRingBufferBytes(samplesPerSecond: samplesPerSecond, cpus: cpus)
            // Four seconds of samples, but for the 1 GiB cap (999 Hz on 512 CPUs).
            if defaultRing < 1 << 30 { #expect(configuration.drainInterval(ringBufferBytes: defaultRing, cpus: cpus) == adaptive) }
            for ring in [1 << 16, 1 << 20, 8 << 20] {
                let interval = configuration.drainInterval(ringBufferBytes: ring, cpus: cpus)
                #expect(interval <= adaptive && interval >= 10_000_000)
                let filled = recordBytes * UInt64(samplesPerSecond * cpus) * interval / 1_000_000_000
                // Half full at most, unless the 10 ms floor is all that is left.
                #expect(filled <= UInt64(ring / 2) || interval == 10_000_000, "\(ring) bytes, \(cpus) CPUs")
            }
        }
    }

    @Test("the adaptive drain interval is long only while drains would find few samples")
    func adaptiveDrainInterval() {
        let interval = { (rate: Int, cpus: Int) in SamplerConfiguration.adaptiveDrainInterval(samplesPerSecond: rate, cpus: cpus) }
        // 38 samples a second: a drain every 750 ms still finds under 50.
        #expect(interval(19, 2) == 750_000_000)
        #expect(interval(99, 2) == 252_525_252)
        #expect(interval(999, 2) == 250_000_000)
        #expect(interval(19, 64) == 250_000_000)
        // Never longer for a higher rate, always within the bounds.
        var previous = UInt64.max
        for rate in [1, 10, 19, 30, 50, 99, 200, 999, 10_000] {
            let next = interval(rate, 2)
            #expect(next <= previous && (250_000_000...750_000_000).contains(next), "\(rate) Hz")
            previous = next
        }
        // Off-CPU records come as fast as the host switches: the short interval.
        var configuration = SamplerConfiguration(destination: .file(path: "x"))
        configuration.samplesPerSecond = 19
        #expect(configuration.drainInterval(ringBufferBytes: 8 << 20, cpus: 2) == 750_000_000)
        configuration.offCPUThreshold = 0.1
        #expect(configuration.drainInterval(ringBufferBytes: 8 << 20, cpus: 2) == 250_000_000)
        // A configured interval is kept as it is.
        configuration.offCPUThreshold = 0
        configuration.samplesPerSecond = 999
        configuration.drainIntervalMilliseconds = 900
        #expect(configuration.drainInterval(ringBufferBytes: 1 << 30, cpus: 2) == 900_000_000)
        configuration.drainIntervalMilliseconds = 5
        #expect(throws: SamplerError.self) { try configuration.validate() }
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
