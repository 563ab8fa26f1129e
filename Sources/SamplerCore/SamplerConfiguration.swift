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
    /// Time between two drains of the ring buffer while something starts: the first seconds
    /// of a run or a connection, and after an exec. A process sampled once is read from /proc
    /// at the next drain, so this bounds how short a process can be and still be described.
    public var drainIntervalMilliseconds: Int = 250
    /// Time between two drains while nothing starts (`idleDrainInterval`). A wake-up costs
    /// about 30 µs of a busy CPU on this host whatever it does, as much as 19 Hz's samples
    /// of a second: long, and still 250 ms inside DESIGN.md's bound of 1 s from a sample to
    /// the aggregator, for the drain, the write and a late wake-up.
    public var idleDrainIntervalMilliseconds: Int = 750
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
        guard (drainIntervalMilliseconds...1000).contains(idleDrainIntervalMilliseconds) else {
            throw .invalidConfiguration("the idle drain interval must be between the drain interval (\(drainIntervalMilliseconds) ms) and 1000 ms, not \(idleDrainIntervalMilliseconds)")
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
    /// drains at least once a second, so it can be kept off the CPU for seconds (a crowded
    /// host) before the BPF side has to drop.
    public static func defaultRingBufferBytes(samplesPerSecond: Int, cpus: Int) -> Int {
        let wanted = MemoryLayout<tandem_sample_event>.size * samplesPerSecond * max(1, cpus) * 4
        var bytes = 8 << 20
        while bytes < wanted && bytes < 1 << 30 { bytes <<= 1 }
        return bytes
    }

    /// The drain interval while nothing starts, in nanoseconds: `idleDrainIntervalMilliseconds`,
    /// shortened so that every CPU's samples at full size fill at most half the ring buffer
    /// (the other half is for bursts: walkers' side records, a late wake-up), and no shorter
    /// than the drain interval. With off-CPU sampling on it is the drain interval: off-CPU
    /// records come with the host's switches, at no rate known here.
    public func idleDrainInterval(ringBufferBytes: Int, cpus: Int) -> UInt64 {
        let drain = UInt64(drainIntervalMilliseconds) * 1_000_000
        guard offCPUThreshold == 0 else { return drain }
        let bytesPerSecond = UInt64(MemoryLayout<tandem_sample_event>.size + 8) * UInt64(samplesPerSecond) * UInt64(max(1, cpus))
        let fillsHalf = UInt64(ringBufferBytes / 2) * 1_000_000_000 / max(1, bytesPerSecond)
        return max(drain, min(UInt64(idleDrainIntervalMilliseconds) * 1_000_000, fillsHalf))
    }
}
