/// The facts about the sampling host that open every stream.
///
/// On the wire: the magic bytes `TNDM`, the format version as a varint, then
/// the header body as a length-framed field list (see docs/wire-format.md).
public struct StreamHeader: Hashable, Sendable {
    /// The only format version this module writes; the decoder refuses others.
    public static let currentVersion: UInt64 = 1
    /// `"TNDM"`.
    public static let magic: [UInt8] = [0x54, 0x4E, 0x44, 0x4D]

    public var version: UInt64
    public var hostName: String
    /// `uname -r` of the sampling host.
    public var kernelRelease: String
    /// `/proc/sys/kernel/random/boot_id`; kernel times are only comparable within one boot.
    public var bootID: String
    /// A pair of readings taken together, to turn kernel monotonic time into wall time.
    public var clock: ClockReference
    public var cpuCount: UInt32
    public var samplesPerSecond: UInt32
    /// The version string of the sampler that wrote the stream.
    public var samplerVersion: String
    /// The control stream version (`ControlStream`) the sampler reads on this connection;
    /// 0 (and absent, in older streams) means it reads nothing back: send it nothing.
    public var controlVersion: UInt64
    /// When the sampler process started (`CLOCK_MONOTONIC` nanoseconds of this boot); 0
    /// (and absent, in older streams) if unknown. With `hostName` and `bootID` it names one
    /// sampler run, whose statistics counters are cumulative over all its streams: a
    /// sampler that reconnects reports the same counters again, one that restarted anew.
    public var samplerStartTime: UInt64

    public init(version: UInt64 = StreamHeader.currentVersion, hostName: String, kernelRelease: String,
                bootID: String, clock: ClockReference, cpuCount: UInt32, samplesPerSecond: UInt32,
                samplerVersion: String, controlVersion: UInt64 = 0, samplerStartTime: UInt64 = 0) {
        self.version = version
        self.hostName = hostName
        self.kernelRelease = kernelRelease
        self.bootID = bootID
        self.clock = clock
        self.cpuCount = cpuCount
        self.samplesPerSecond = samplesPerSecond
        self.samplerVersion = samplerVersion
        self.controlVersion = controlVersion
        self.samplerStartTime = samplerStartTime
    }
}

/// `CLOCK_MONOTONIC` and `CLOCK_REALTIME` read back to back.
public struct ClockReference: Hashable, Sendable {
    /// Nanoseconds of `CLOCK_MONOTONIC` (the clock of `bpf_ktime_get_ns`).
    public var monotonicNanoseconds: UInt64
    /// Nanoseconds since the Unix epoch at the same instant.
    public var realtimeNanoseconds: UInt64

    public init(monotonicNanoseconds: UInt64, realtimeNanoseconds: UInt64) {
        self.monotonicNanoseconds = monotonicNanoseconds
        self.realtimeNanoseconds = realtimeNanoseconds
    }

    /// The wall-clock time, in nanoseconds since the epoch, of a monotonic reading.
    public func unixNanoseconds(ofMonotonic time: UInt64) -> UInt64 {
        if time >= monotonicNanoseconds {
            return realtimeNanoseconds &+ (time - monotonicNanoseconds)
        }
        let back = monotonicNanoseconds - time
        return back > realtimeNanoseconds ? 0 : realtimeNanoseconds - back
    }
}
