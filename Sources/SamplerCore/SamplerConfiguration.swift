import CTandemBPF
import WireFormat

/// What the sampler does; filled from the command line and the configuration file.
public struct SamplerConfiguration: Hashable, Sendable {
    /// Samples per second per CPU (the cpu-clock event frequency).
    public var samplesPerSecond: Int = SamplingRate.defaultSamplesPerSecond
    public var destination: OutputDestination
    /// Stop after this many seconds; nil runs until SIGINT/SIGTERM.
    public var durationSeconds: Double?
    /// Most encoded bytes kept for a slow or absent aggregator before samples are dropped.
    public var bufferBytes: Int = 8 << 20
    /// The BPF ring buffer's size (a power of two of at least 64 KiB); nil sizes it by
    /// `defaultRingBufferBytes`.
    public var ringBufferBytes: Int?
    /// Time between two drains of the ring buffer. Each wake-up costs a poll, a drain
    /// and a write whatever the sample rate, so the longest interval DESIGN.md allows
    /// (250 ms); the ring buffer holds seconds of samples (`defaultRingBufferBytes`).
    public var drainIntervalMilliseconds: Int = 250
    /// Time between two statistics records.
    public var statisticsIntervalMilliseconds: Int = 1000
    /// Minimum time between two re-reads of one process's mappings.
    public var mappingsRefreshMilliseconds: Int = 1000
    /// Size of the BPF array holding every unwind table's entries (8 bytes each,
    /// allocated at start); 0 turns unwinding with the aggregator's tables off, leaving
    /// frame pointers only. A python3 process needs about 105 000 entries.
    public var unwindTableEntries: Int = 1 << 20
    /// Walk the Python frames of CPython processes the aggregator names (docs/cpython.md):
    /// off, the walker reads no interpreter memory and the aggregator's records are refused.
    public var walksInterpreters: Bool = true
    /// The share (0...1) of switches off the CPU recorded as off-CPU samples; 0 is off.
    public var offCPUThreshold: Double = 0
    /// Drop every capability not needed after start-up, and set no_new_privs. Only
    /// in-process tests, which share their process with the test runner, turn it off.
    public var dropsCapabilities: Bool = true
    /// Stop cleanly on SIGINT, SIGTERM and SIGHUP (blocks them and reads a signalfd).
    public var handlesSignals: Bool = true

    public init(destination: OutputDestination) {
        self.destination = destination
    }

    /// Throws `invalidConfiguration` naming the first bad value and its valid range.
    /// Not `samplesPerSecond`: it is checked where it is read, so that the error names its
    /// source (the command line's `validate()` the flag, `SamplingRateReader` the file's line).
    public func validate() throws(SamplerError) {
        if let durationSeconds, !(durationSeconds > 0) || !durationSeconds.isFinite {
            throw .invalidConfiguration("duration must be a positive number of seconds, not \(durationSeconds)")
        }
        guard bufferBytes >= 64 << 10 else {
            throw .invalidConfiguration("buffer bytes must be at least 65536, not \(bufferBytes)")
        }
        if let ringBufferBytes, ringBufferBytes < 1 << 16 || ringBufferBytes & (ringBufferBytes - 1) != 0 || ringBufferBytes > 1 << 30 {
            throw .invalidConfiguration("the ring buffer size must be a power of two between 65536 and 2^30 bytes, not \(ringBufferBytes)")
        }
        guard (10...1000).contains(drainIntervalMilliseconds) else {
            throw .invalidConfiguration("the drain interval must be between 10 and 1000 ms, not \(drainIntervalMilliseconds)")
        }
        guard (0...1).contains(offCPUThreshold) else {
            throw .invalidConfiguration("the off-CPU threshold must be between 0 (off) and 1 (every switch), not \(offCPUThreshold)")
        }
        guard (0...(1 << 26)).contains(unwindTableEntries) else {
            throw .invalidConfiguration("unwind table entries must be between 0 (off) and 67108864, not \(unwindTableEntries)")
        }
        switch destination {
        case .socket(let path), .file(let path):
            guard !path.isEmpty else { throw .invalidConfiguration("the output path is empty") }
            if case .socket = destination, path.utf8.count > 107 {
                throw .invalidConfiguration("the socket path is longer than 107 bytes: \(path)")
            }
        }
    }

    /// Room for four seconds of samples from every CPU (at least 8 MiB): the sampler
    /// drains four times a second, so it can be kept off the CPU for seconds (a crowded
    /// host) before the BPF side has to drop.
    public static func defaultRingBufferBytes(samplesPerSecond: Int, cpus: Int) -> Int {
        let wanted = MemoryLayout<tandem_sample_event>.size * samplesPerSecond * max(1, cpus) * 4
        var bytes = 8 << 20
        while bytes < wanted && bytes < 1 << 30 { bytes <<= 1 }
        return bytes
    }
}
