import Testing
@testable import StreamDecoding
@testable import WireFormat

@Suite struct ThreadNameTests {
    private func comm(_ text: String, trailing: [UInt8] = []) -> ThreadName {
        var bytes = Array(text.utf8) + [0] + trailing
        bytes += Array(repeating: 0, count: max(0, 16 - bytes.count))
        return Array(bytes.prefix(16)).withUnsafeBytes { ThreadName(commBytes: $0) }
    }

    @Test func samplesCarryTheirThreadsNamesAndARenamedThreadIsDefinedAgain() throws {
        var encoder = StreamEncoder(header: testHeader)
        let stack: [UInt64] = [0x5555_0000_1234]
        encoder.appendSample(time: 1_000_000_100, pid: 42, tid: 42, cpu: 0, kernelStack: [], userStack: stack,
                             threadName: comm("server"))
        encoder.appendSample(time: 1_000_000_200, pid: 42, tid: 43, cpu: 0, kernelStack: [], userStack: stack,
                             threadName: comm("1_scheduler"))
        // Stale bytes after the NUL (a shorter name written over a longer one) change nothing.
        encoder.appendSample(time: 1_000_000_300, pid: 42, tid: 43, cpu: 0, kernelStack: [], userStack: stack,
                             threadName: comm("1_scheduler", trailing: [0x41, 0x42]))
        encoder.appendSample(time: 1_000_000_400, pid: 42, tid: 43, cpu: 0, kernelStack: [], userStack: stack,
                             threadName: comm("worker-7"))
        encoder.appendSample(time: 1_000_000_500, pid: 42, tid: 44, cpu: 0, kernelStack: [], userStack: stack)
        let records = try decodeAll(encoder.takeBytes())
        let definitions = records.compactMap { if case .threadDefinition(let d) = $0 { d } else { nil } }
        #expect(definitions.map(\.name) == ["server", "1_scheduler", "worker-7", ""])
        #expect(definitions.map(\.tid) == [42, 43, 43, 44])
        let samples = records.compactMap { if case .sample(let s) = $0 { s } else { nil } }
        #expect(samples.map(\.threadName) == ["server", "1_scheduler", "1_scheduler", "worker-7", ""])
    }

    /// The 16-byte path reads two words and masks at the first NUL; a shorter buffer takes
    /// the byte loop. Every NUL position, with stale non-zero bytes after it (0x01 and 0x80
    /// are the bytes a zero-byte test's borrow could misread), must agree with the loop.
    @Test func theWordWiseReadCutsAtTheFirstNULWhereverItIs() {
        for stale: UInt8 in [0x01, 0x80, 0xFF] {
            for nul in 0...16 {
                var bytes = (0..<16).map { UInt8(0x41 + $0) }
                if nul < 16 {
                    bytes[nul] = 0
                    for index in (nul + 1)..<16 { bytes[index] = stale }
                }
                let wordWise = bytes.withUnsafeBytes { ThreadName(commBytes: $0) }
                // The first 15 bytes through the byte loop (a buffer under 16 bytes).
                let reference = bytes.withUnsafeBytes { raw in
                    ThreadName(commBytes: UnsafeRawBufferPointer(rebasing: raw.prefix(15)))
                }
                let expected = nul == 16 ? Array(bytes) : Array(bytes.prefix(nul))
                #expect(wordWise.text.utf8.elementsEqual(expected.prefix(ThreadName.maximumLength)),
                        "NUL at \(nul), stale \(stale)")
                if nul < 15 { #expect(wordWise == reference, "NUL at \(nul), stale \(stale)") }
            }
        }
    }

    @Test func invalidUTF8IsRepairedAndCutToFifteenBytesOnACharacterBoundary() {
        let repaired = comm("ab", trailing: []).text
        #expect(repaired == "ab")
        var bytes: [UInt8] = [0x61, 0xFF, 0x62] + Array(repeating: 0, count: 13)
        let invalid = bytes.withUnsafeBytes { ThreadName(commBytes: $0) }
        #expect(invalid.text == "a\u{FFFD}b")
        // Fifteen bytes that repair to more than fifteen: cut whole characters only.
        bytes = Array(repeating: 0xFF, count: 15) + [0]
        let allInvalid = bytes.withUnsafeBytes { ThreadName(commBytes: $0) }
        #expect(allInvalid.text == String(repeating: "\u{FFFD}", count: 5))
        #expect(ThreadName("ßßßßßßßß").text == "ßßßßßßß")  // 16 bytes: the eighth does not fit
        #expect(ThreadName().isEmpty && ThreadName("").isEmpty && !ThreadName("x").isEmpty)
    }

    @Test func aDefinitionWithoutANameDecodesWithAnEmptyOneAndAHostileNameIsRefused() throws {
        var old = RawStream()
        old.thread(id: 1, pid: 10, tid: 11)
        old.sample(thread: 1)
        let (records, error) = decodeChunked(old.bytes, chunkSizes: [4096])
        #expect(error == nil)
        #expect(records.compactMap { if case .sample(let s) = $0 { s.threadName } else { nil } } == [""])

        var long = RawStream()
        long.record(.threadDefinition) {
            $0.writeVarint(1 as UInt64); $0.writeInt32(10); $0.writeSigned(1); $0.writeString(String(repeating: "x", count: 16))
        }
        #expect(decodingError(long.bytes)?.kind == .limitExceeded(what: "string length", value: 16, limit: 15))

        var invalid = RawStream()
        invalid.record(.threadDefinition) {
            $0.writeVarint(1 as UInt64); $0.writeInt32(10); $0.writeSigned(1); $0.writeVarint(2 as UInt64); $0.writeBytes([0xC3, 0x28])
        }
        #expect(decodingError(invalid.bytes)?.kind == .invalidUTF8)
    }
}

@Suite struct OffCPUSampleTests {
    @Test func offCPUTimeRoundTripsAsTheLastAppendedField() throws {
        var encoder = StreamEncoder(header: testHeader)
        let stack: [UInt64] = [0x5555_0000_1234]
        encoder.appendSample(time: 1_000_000_100, pid: 42, tid: 42, cpu: 0, kernelStack: [], userStack: stack)
        let onCPUBytes = encoder.takeBytes()
        encoder.appendSample(time: 1_000_000_200, pid: 42, tid: 42, cpu: 0, kernelStack: [], userStack: stack,
                             offCPUNanoseconds: 70_000_000)
        encoder.appendSample(time: 1_000_000_300, pid: 42, tid: 42, cpu: 1, kernelStack: [], userStack: [],
                             offCPUNanoseconds: UInt64.max)
        let records = try decodeAll(onCPUBytes + encoder.takeBytes())
        let samples = records.compactMap { if case .sample(let s) = $0 { s } else { nil } }
        #expect(samples.map(\.offCPUNanoseconds) == [0, 70_000_000, UInt64.max])
        #expect(samples.map(\.userStack) == [stack, stack, []])
    }
}
