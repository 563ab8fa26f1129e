import WireFormat

extension StreamHeader {
    /// Decodes a header body (after magic, version and length).
    static func decodeBody(_ reader: inout ByteReader, version: UInt64,
                           limits: DecoderLimits) throws(WireFormatError.Kind) -> StreamHeader {
        let host = try reader.readString(limit: limits.maximumStringLength)
        let release = try reader.readString(limit: limits.maximumStringLength)
        let boot = try reader.readString(limit: limits.maximumStringLength)
        let monotonic = try reader.readVarint()
        let realtime = try reader.readVarint()
        let cpus = try reader.readUInt32("cpu count")
        let frequency = try reader.readUInt32("samples per second")
        let samplerVersion = try reader.readString(limit: limits.maximumStringLength)
        let controlVersion = reader.isAtEnd ? 0 : try reader.readVarint()
        let samplerStartTime = reader.isAtEnd ? 0 : try reader.readVarint()
        return StreamHeader(version: version, hostName: host, kernelRelease: release, bootID: boot,
                            clock: ClockReference(monotonicNanoseconds: monotonic, realtimeNanoseconds: realtime),
                            cpuCount: cpus, samplesPerSecond: frequency, samplerVersion: samplerVersion,
                            controlVersion: controlVersion, samplerStartTime: samplerStartTime)
    }
}
