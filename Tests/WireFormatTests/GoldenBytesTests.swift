import Testing
@testable import WireFormat

/// Pins format version 1: if these bytes change, the format changed, and the
/// version and docs/wire-format.md must change with it.
@Suite struct GoldenBytesTests {
    static let header = StreamHeader(hostName: "h", kernelRelease: "6.18", bootID: "b",
                                     clock: ClockReference(monotonicNanoseconds: 1000, realtimeNanoseconds: 2000),
                                     cpuCount: 2, samplesPerSecond: 99, samplerVersion: "1")

    static func goldenStream() -> [UInt8] {
        var encoder = StreamEncoder(header: header)
        encoder.append(.process(ProcessInfo(pid: 300, parentPID: 1, startTime: 500, comm: "a", executablePath: "/a", cgroupPath: "/")))
        encoder.append(.mappings(Mappings(pid: 300, mappings: [
            Mapping(start: 0x40_0000, end: 0x40_2000, fileOffset: 0x1000, device: 0x803, inode: 9, path: "/a"),
        ])))
        encoder.appendSample(time: 1100, pid: 300, tid: 301, cpu: 1,
                             kernelStack: [0xFFFF_FFFF_8100_0010, 0xFFFF_FFFF_8100_0000], userStack: [0x40_1010, 0x40_1000])
        encoder.appendSample(time: 1050, pid: 300, tid: 301, cpu: 0, kernelStack: [], userStack: [0x40_1010, 0x40_1000],
                             flags: .userStackTruncated)
        encoder.appendSample(time: 1060, pid: 300, tid: 301, cpu: 0, kernelStack: [], userStack: [0x40_1010, 0x40_1000])
        encoder.append(.kernelSymbols(KernelSymbols(symbols: [KernelSymbol(address: 0xFFFF_FFFF_8100_0000, type: UInt8(ascii: "T"), name: "f")])))
        encoder.append(.kernelModules(KernelModules(modules: [KernelModule(name: "m", start: 0xFFFF_FFFF_C000_0000, size: 0x1000)])))
        encoder.append(.statistics(SamplerStatistics(time: 1200, counters: [.samplesCollected: 3, .dropsRingBufferFull: 1])))
        encoder.append(.processExit(ProcessExit(pid: 300, time: 1300)))
        encoder.append(.resetInterning)
        encoder.append(.endOfStream(EndOfStream(time: 1400, reason: .shutdown)))
        return encoder.takeBytes()
    }

    /// One record per line: type, length, payload (see docs/wire-format.md).
    static let goldenHex = """
        544e444d 01 11 0168 04362e3138 0162 e807 d00f 02 63 0131
        04 0d ac02 01 f403 0161 022f61 012f 00
        05 11 ac02 01 80808004 8040 8020 8310 09 022f61
        01 09 01 00 02 dfffffef0f 1f
        01 08 02 01 02 a0c08004 1f
        02 04 01 ac02 02
        03 06 c801 01 01 02 01
        03 06 63 01 00 02 00 01
        03 04 14 01 00 02
        07 0a 01 ffffffef0f 54 0166 00
        08 0f 01 016d 80808080fcffffffff01 8020
        09 07 b009 02 01 03 03 01
        06 04 ac02 940a
        0a 00
        0b 03 f80a 01
        """

    @Test func formatVersionOneBytesArePinned() throws {
        let stream = Self.goldenStream()
        #expect(hex(stream) == Self.goldenHex.filter { !$0.isWhitespace }, "the encoding changed: \(hex(stream))")
    }

    @Test func pinnedBytesDecode() throws {
        let decoded = decodeChunked(bytes(hex: Self.goldenHex), chunkSizes: [1])
        #expect(decoded.error == nil)
        #expect(decoded.records.first == .header(Self.header))
        let samples = decoded.records.compactMap { if case .sample(let sample) = $0 { sample } else { nil } }
        #expect(samples.map(\.time) == [1100, 1050, 1060])
        #expect(samples.map(\.cpu) == [1, 0, 0])
        #expect(samples[0].kernelStack == [0xFFFF_FFFF_8100_0010, 0xFFFF_FFFF_8100_0000])
        #expect(samples.allSatisfy { $0.userStack == [0x40_1010, 0x40_1000] && $0.pid == 300 && $0.tid == 301 })
        #expect(samples.map(\.flags) == [[], .userStackTruncated, []])
        #expect(decoded.records.last == .endOfStream(EndOfStream(time: 1400, reason: .shutdown)))
    }

    /// The first bytes, spelled out: magic, version 1, then the header length.
    @Test func streamStartsWithMagicAndVersion() {
        let stream = Self.goldenStream()
        #expect(Array(stream.prefix(5)) == [0x54, 0x4E, 0x44, 0x4D, 0x01])
    }
}
