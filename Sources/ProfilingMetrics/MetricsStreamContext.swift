/// What the connector needs to know about the stream its samples come from:
/// the host, and the stream's clock reference (a `CLOCK_MONOTONIC` reading and
/// the `CLOCK_REALTIME` reading taken with it) to turn sample times into Unix
/// time. All time comes from the stream, never from the wall clock, so a
/// replayed capture gives the same metrics.
public struct MetricsStreamContext: Hashable, Sendable {
    public var hostName: String
    /// `CLOCK_MONOTONIC` nanoseconds of the clock reference.
    public var monotonicNanoseconds: UInt64
    /// Nanoseconds since the Unix epoch at the same instant.
    public var realtimeNanoseconds: UInt64

    public init(hostName: String, monotonicNanoseconds: UInt64, realtimeNanoseconds: UInt64) {
        self.hostName = hostName
        self.monotonicNanoseconds = monotonicNanoseconds
        self.realtimeNanoseconds = realtimeNanoseconds
    }

    /// Unix nanoseconds of a monotonic sample time (clamped at the epoch).
    @inline(__always)
    public func unixNanoseconds(ofMonotonic time: UInt64) -> UInt64 {
        if time >= monotonicNanoseconds { return realtimeNanoseconds &+ (time - monotonicNanoseconds) }
        let back = monotonicNanoseconds - time
        return back > realtimeNanoseconds ? 0 : realtimeNanoseconds - back
    }
}
