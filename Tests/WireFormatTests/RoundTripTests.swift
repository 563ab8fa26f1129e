import Testing
@testable import StreamDecoding
@testable import WireFormat

let testHeader = StreamHeader(hostName: "host-a", kernelRelease: "6.18.0", bootID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                              clock: ClockReference(monotonicNanoseconds: 1_000_000_000, realtimeNanoseconds: 1_790_000_000_000_000_000),
                              cpuCount: 2, samplesPerSecond: 19, samplerVersion: "0.1.0")

/// Decodes every record of `bytes`, fed in chunks of `chunkSize`.
func decodeAll(_ bytes: [UInt8], chunkSize: Int = 4096) throws -> [Record] {
    var decoder = StreamDecoder()
    var records: [Record] = []
    var index = 0
    while index < bytes.count {
        let end = min(bytes.count, index + chunkSize)
        decoder.feed(bytes[index..<end])
        while let record = try decoder.next() { records.append(record) }
        index = end
    }
    try decoder.finish()
    return records
}

@Suite struct RoundTripTests {
    @Test func samplesRoundTripWithInterning() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.process(ProcessInfo(pid: 42, parentPID: 1, startTime: 5, comm: "spin", executablePath: "/usr/bin/spin", cgroupPath: "/user.slice")))
        encoder.append(.mappings(Mappings(pid: 42, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0000_4000, fileOffset: 0x1000, device: 0x803, inode: 77, path: "/usr/bin/spin"),
            Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0010_0000, fileOffset: 0, device: 0x803, inode: 78, path: "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        ])))
        let user: [UInt64] = [0x5555_0000_1234, 0x5555_0000_1100, 0x7f00_0000_2000]
        let kernel: [UInt64] = [0xffff_ffff_8100_0000, 0xffff_ffff_8100_1000]
        encoder.appendSample(time: 1_000_000_100, pid: 42, tid: 43, cpu: 1, kernelStack: kernel, userStack: user)
        encoder.appendSample(time: 1_000_000_050, pid: 42, tid: 43, cpu: 0, kernelStack: [], userStack: user, flags: .userStackTruncated)
        encoder.append(.processExit(ProcessExit(pid: 42, time: 2_000_000_000)))
        encoder.append(.endOfStream(EndOfStream(time: 2_000_000_001, reason: .finished)))
        let bytes = encoder.takeBytes()

        for chunk in [1, 3, 4096] {
            let records = try decodeAll(bytes, chunkSize: chunk)
            let samples = records.compactMap { if case .sample(let s) = $0 { s } else { nil } }
            #expect(samples.count == 2)
            #expect(samples[0].userStack == user)
            #expect(samples[0].kernelStack == kernel)
            #expect(samples[0].time == 1_000_000_100)
            #expect(samples[0].tid == 43)
            #expect(samples[1].time == 1_000_000_050)
            #expect(samples[1].kernelStack.isEmpty)
            #expect(samples[1].flags == .userStackTruncated)
            #expect(samples[1].userStackID == samples[0].userStackID)
            #expect(records.first == .header(testHeader))
            #expect(records.last == .endOfStream(EndOfStream(time: 2_000_000_001, reason: .finished)))
        }
    }

    @Test("interpreter stacks keep their runtime's kind and flags, interned like the others")
    func interpreterStacksRoundTrip() throws {
        var encoder = StreamEncoder(header: testHeader)
        let words: [UInt64] = [0x7f00_1000, 0x1234_0000_0000_0101, 0x7f00_2000, 0x5678_0000_0000_0200]
        let flags: UInt32 = 0b100
        for time in [UInt64(10), 20] {
            [UInt64(0x5555_0000_1234)].withUnsafeBufferPointer { user in
                words.withUnsafeBufferPointer { interpreter in
                    encoder.appendSample(time: time, pid: 7, tid: 7, cpu: 0, kernelStack: UnsafeBufferPointer(start: nil, count: 0),
                                         userStack: user, interpreterStack: interpreter, interpreterStackKind: .cpython,
                                         interpreterFlags: flags)
                }
            }
        }
        encoder.appendSample(time: 30, pid: 7, tid: 7, cpu: 0, kernelStack: [], userStack: [0x5555_0000_1234])
        let samples = try decodeAll(encoder.takeBytes()).compactMap { if case .sample(let s) = $0 { s } else { nil } }
        try #require(samples.count == 3)
        #expect(samples[0].interpreterStack == words)
        #expect(samples[0].interpreterStackKind == .cpython)
        #expect(samples[0].interpreterFlags == flags)
        #expect(samples[0].cpythonFrames.map(\.code) == [0x7f00_1000, 0x7f00_2000])
        #expect(samples[1].interpreterStackID == samples[0].interpreterStackID, "the second sample refers to the interned stack")
        #expect(samples[2].interpreterStack.isEmpty && samples[2].interpreterStackKind == nil && samples[2].interpreterFlags == 0)
        #expect(samples[2].cpythonFrames.isEmpty)
    }

    @Test func evictedUnwindTablesRoundTrip() throws {
        var encoder = StreamEncoder(header: testHeader)
        let evicted = UnwindTablesEvicted(tableIDs: [1, 300, UInt32.max])
        encoder.append(.unwindTablesEvicted(evicted))
        encoder.append(.unwindTablesEvicted(UnwindTablesEvicted(tableIDs: [])))
        let records = try decodeAll(encoder.takeBytes(), chunkSize: 1)
        #expect(records.dropFirst().map { $0 } == [.unwindTablesEvicted(evicted), .unwindTablesEvicted(UnwindTablesEvicted(tableIDs: []))])

        // Table ids start at 1.
        var writer = ByteWriter()
        writer.writeVarint(1)
        writer.writeVarint(0)
        writer.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.valueOutOfRange(field: "unwind table id", value: 0)) {
                try reader.readUnwindTablesEvicted(limits: .default)
            }
        }
    }

    @Test func truncatedStreamIsATypedError() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.appendSample(time: 1, pid: 1, tid: 1, cpu: 0, kernelStack: [1, 2], userStack: [3])
        let bytes = encoder.takeBytes()
        let full = try decodeAll(bytes)
        var boundaries = 0
        for cut in 0..<bytes.count {
            // A cut on a record boundary is a valid, shorter stream; any other
            // cut must be reported as truncation.
            do {
                let records = try decodeAll(Array(bytes[..<cut]))
                #expect(Array(full.prefix(records.count)) == records)
                boundaries += 1
            } catch let error as WireFormatError {
                #expect(error.kind == .truncated)
            }
        }
        #expect(boundaries == full.count - 1)
    }
}
