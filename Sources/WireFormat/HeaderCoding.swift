// The stream header on the wire:
//   "TNDM" | varint version | varint body length | body
// body: host name, kernel release, boot id (strings), clock monotonic, clock
// realtime, cpu count, samples per second (varints), sampler version (string),
// control version (varint, appended; absent = 0), sampler start time (varint,
// appended after it; absent = 0).
// Bytes after the known fields are reserved for later versions and skipped.

extension StreamHeader {
    /// The bytes of the header, as they open a stream.
    func encoded(limits: EncoderLimits) -> [UInt8] {
        var body = ByteWriter(capacity: 128)
        body.writeString(hostName.truncatedUTF8(to: limits.maximumStringLength))
        body.writeString(kernelRelease.truncatedUTF8(to: limits.maximumStringLength))
        body.writeString(bootID.truncatedUTF8(to: limits.maximumStringLength))
        body.writeVarint(clock.monotonicNanoseconds)
        body.writeVarint(clock.realtimeNanoseconds)
        body.writeVarint(cpuCount)
        body.writeVarint(samplesPerSecond)
        body.writeString(samplerVersion.truncatedUTF8(to: limits.maximumStringLength))
        // Appended fields: written only when set, so older streams keep their bytes; a later
        // one set needs the ones before it written too.
        if controlVersion != 0 || samplerStartTime != 0 { body.writeVarint(controlVersion) }
        if samplerStartTime != 0 { body.writeVarint(samplerStartTime) }

        var out = ByteWriter(capacity: body.count + 16)
        out.writeBytes(StreamHeader.magic)
        out.writeVarint(version)
        out.writeVarint(UInt64(body.count))
        out.writeBytes(body.bytes)
        return out.bytes
    }

}

extension String {
    /// The longest prefix of at most `limit` UTF-8 bytes that ends on a scalar boundary.
    func truncatedUTF8(to limit: Int) -> String {
        guard utf8.count > limit else { return self }
        let bytes = Array(utf8)
        var end = limit
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
