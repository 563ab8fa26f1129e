import Testing
@testable import StreamDecoding
@testable import WireFormat

/// The decoder is the aggregator's security boundary: every malformed input
/// ends in a typed error naming the record and offset, never in a trap.
@Suite struct DecoderRobustnessTests {
    /// A stream with every record type, about 2 KB.
    static let realistic: [UInt8] = {
        var generator = StreamInputGenerator(seed: 42)
        return encode(generator.inputs(count: 60))
    }()

    static let realisticRecords: [Record] = decodeChunked(realistic, chunkSizes: [4096]).records

    /// Offsets at which a record (or the header) ends.
    static let boundaries: Set<Int> = {
        var decoder = StreamDecoder()
        var ends: Set<Int> = []
        for byte in realistic {
            decoder.feed(CollectionOfOne(byte))
            while (try? decoder.next()) != nil { ends.insert(decoder.bytesConsumed) }
        }
        return ends
    }()

    @Test func everyTruncationIsTruncatedOrARecordBoundary() {
        let stream = Self.realistic
        #expect(stream.count > 1000)
        #expect(decodeChunked(stream, chunkSizes: [4096]).error == nil)
        for cut in 0..<stream.count {
            let result = decodeChunked(Array(stream[..<cut]), chunkSizes: [4096])
            if let error = result.error {
                #expect(error.kind == .truncated, "cut at \(cut): \(error)")
                #expect(!Self.boundaries.contains(cut), "cut at \(cut)")
                #expect(error.offset <= cut)
            } else {
                #expect(Self.boundaries.contains(cut), "cut at \(cut) decoded without error")
            }
            #expect(Array(Self.realisticRecords.prefix(result.records.count)) == result.records, "cut at \(cut)")
        }
    }

    @Test func singleBitFlipsGiveATypedErrorOrAValidDecode() {
        var generator = StreamInputGenerator(seed: 7)
        let stream = encode(generator.inputs(count: 25))
        var errors = 0
        for offset in 0..<stream.count {
            for bit in 0..<8 {
                var flipped = stream
                flipped[offset] ^= 1 << bit
                let result = decodeChunked(flipped, chunkSizes: [4096])
                if let error = result.error {
                    errors += 1
                    #expect(error.offset >= 0 && error.offset <= stream.count, "flip at \(offset).\(bit): \(error)")
                    #expect(error.description.contains("byte offset \(error.offset)"))
                }
                if offset < 4 { #expect(result.error?.kind == .badMagic) }
                if offset == 4 {
                    guard case .unsupportedVersion(let version) = result.error?.kind else {
                        Issue.record("flip in the version: \(String(describing: result.error))")
                        continue
                    }
                    #expect(version != 1)
                }
            }
        }
        // Most flips are caught: magic, lengths, ids and kinds are checked.
        #expect(errors > 0)
    }

    @Test func randomBytesNeverTrap() {
        var random = SeededGenerator(seed: 1234)
        let header = RawStream().bytes
        for round in 0..<3000 {
            let length = Int.random(in: 0...256, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Half the inputs get past the header, so that records are exercised.
            if round % 2 == 0 { bytes = header + bytes }
            let result = decodeChunked(bytes, chunkSizes: [Int.random(in: 1...64, using: &random)])
            if round % 2 == 1 && length >= 4 && bytes.prefix(4) != [0x54, 0x4E, 0x44, 0x4D] {
                #expect(result.error?.kind == .badMagic)
            }
        }
    }

    // MARK: Hostile lengths and counts

    @Test func recordLengthOfTwoToTheSixtySecondIsRefused() throws {
        var stream = RawStream()
        let offset = stream.count
        stream.raw(varint(RecordType.sample.rawValue) + varint(1 << 62) + [0, 0, 0])
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .limitExceeded(what: "record length", value: 1 << 62, limit: UInt64(DecoderLimits.default.maximumRecordLength)))
        #expect(error.recordType == RecordType.sample.rawValue)
        #expect(error.offset == offset)
        #expect(error.description == "malformed stream: sample at byte offset \(offset): record length 4611686018427387904 exceeds the limit 4194304")
    }

    @Test func headerLengthAboveTheLimitIsRefused() throws {
        let bytes = StreamHeader.magic + [1] + varint(1 << 40)
        let error = try #require(decodingError(bytes))
        #expect(error.kind == .limitExceeded(what: "header length", value: 1 << 40, limit: 4 << 20))
        #expect(error.recordType == nil && error.offset == 0)
        #expect(error.description.hasPrefix("malformed stream: header at byte offset 0"))
    }

    @Test func hugeCountInAShortRecordIsRefusedBeforeAllocating() throws {
        let cases: [(RecordType, String, (inout ByteWriter) -> Void)] = [
            (.stackDefinition, "frame count", { $0.writeVarint(1 as UInt64); $0.writeVarint(1 as UInt64); $0.writeVarint(1 << 40 as UInt64) }),
            (.mappings, "mapping count", { $0.writeVarint(5 as UInt64); $0.writeVarint(1 << 40 as UInt64) }),
            (.kernelSymbols, "kernel symbol count", { $0.writeVarint(1 << 40 as UInt64) }),
            (.kernelModules, "kernel module count", { $0.writeVarint(1 << 40 as UInt64) }),
            (.statistics, "counter count", { $0.writeVarint(7 as UInt64); $0.writeVarint(1 << 40 as UInt64) }),
        ]
        for (type, field, build) in cases {
            var stream = RawStream()
            let offset = stream.count
            stream.record(type, build)
            let error = try #require(decodingError(stream.bytes))
            guard case .limitExceeded(let what, let value, _) = error.kind else {
                Issue.record("\(type): \(error)")
                continue
            }
            #expect(what == field && value == 1 << 40)
            #expect(error.recordType == type.rawValue && error.offset == offset)
            #expect(error.description.contains("\(type) at byte offset \(offset)"))
        }
    }

    /// Counts under the limit but more than the record's bytes can hold.
    @Test func countLargerThanTheRecordIsTruncated() throws {
        var stream = RawStream()
        let offset = stream.count
        stream.record(.stackDefinition) { $0.writeVarint(1 as UInt64); $0.writeVarint(1 as UInt64); $0.writeVarint(1000 as UInt64); $0.writeVarint(5 as UInt64) }
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .truncated && error.recordType == 1 && error.offset == offset)

        var mappings = RawStream()
        mappings.record(.mappings) { $0.writeVarint(5 as UInt64); $0.writeVarint(3 as UInt64); $0.writeBytes([0, 0, 0, 0, 0, 0]) }
        #expect(decodingError(mappings.bytes)?.kind == .truncated)
    }

    @Test func stringLongerThanItsRecordIsRefused() throws {
        var stream = RawStream()
        let offset = stream.count
        stream.record(.process) { $0.writeVarint(10 as UInt64); $0.writeVarint(1 as UInt64); $0.writeVarint(0 as UInt64); $0.writeVarint(200 as UInt64); $0.writeBytes([0x61, 0x62]) }
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .truncated && error.recordType == RecordType.process.rawValue && error.offset == offset)

        var huge = RawStream()
        huge.record(.process) { $0.writeVarint(10 as UInt64); $0.writeVarint(1 as UInt64); $0.writeVarint(0 as UInt64); $0.writeVarint(1 << 40 as UInt64) }
        #expect(decodingError(huge.bytes)?.kind == .limitExceeded(what: "string length", value: 1 << 40, limit: 4096))
    }

    @Test func frameCountAboveTheLimitIsRefused() throws {
        var stream = RawStream()
        stream.stack(id: 1, kind: .user, frames: Array(repeating: 7, count: 1025))
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .limitExceeded(what: "frame count", value: 1025, limit: 1024))
        #expect(error.recordType == RecordType.stackDefinition.rawValue)
    }

    @Test func stacksThreadsAndFramesPastTheLimitsAreRefused() throws {
        let limits = DecoderLimits(maximumStacks: 3, maximumInternedFrames: 10, maximumThreads: 2)
        var stacks = RawStream()
        for id in 1...4 { stacks.stack(id: UInt64(id), kind: .user, frames: [1]) }
        #expect(decodingError(stacks.bytes, limits: limits)?.kind == .limitExceeded(what: "interned stacks", value: 4, limit: 3))

        var frames = RawStream()
        frames.stack(id: 1, kind: .user, frames: Array(repeating: 1, count: 6))
        frames.stack(id: 2, kind: .kernel, frames: Array(repeating: 1, count: 5))
        #expect(decodingError(frames.bytes, limits: limits)?.kind == .limitExceeded(what: "interned frames", value: 11, limit: 10))

        var threads = RawStream()
        for id in 1...3 { threads.thread(id: UInt64(id), pid: 5, tid: Int32(id)) }
        let error = try #require(decodingError(threads.bytes, limits: limits))
        #expect(error.kind == .limitExceeded(what: "interned threads", value: 3, limit: 2))
        #expect(error.recordType == RecordType.threadDefinition.rawValue)

        // A reset frees the tables: the same definitions are accepted again.
        var reset = RawStream()
        for id in 1...3 { reset.stack(id: UInt64(id), kind: .user, frames: [1]) }
        reset.record(.resetInterning) { _ in }
        for id in 1...3 { reset.stack(id: UInt64(id), kind: .user, frames: [1, 2, 3]) }
        #expect(decodingError(reset.bytes, limits: limits) == nil)
    }

    @Test func nestedHostileValuesAreRefused() throws {
        func kind(_ type: RecordType, _ build: (inout ByteWriter) -> Void) -> WireFormatError.Kind? {
            var stream = RawStream()
            stream.record(type, build)
            return decodingError(stream.bytes)?.kind
        }
        // A mapping whose end passes 2^64.
        #expect(kind(.mappings) { w in
            w.writeVarint(5 as UInt64); w.writeVarint(1 as UInt64)
            w.writeSigned(-4096); w.writeVarint(8192 as UInt64); w.writeBytes([0, 0, 0, 0])
        } == .valueOutOfRange(field: "mapping length", value: 8192))
        // A pid above 32 bits, in a process and in a thread definition.
        #expect(kind(.process) { $0.writeVarint(1 << 33 as UInt64) } == .valueOutOfRange(field: "pid", value: 1 << 33))
        #expect(kind(.processExit) { $0.writeVarint(UInt64(UInt32.max) + 1) } == .valueOutOfRange(field: "pid", value: 1 << 32))
        // A tid that does not fit 32 bits once the delta is applied.
        #expect(kind(.threadDefinition) { $0.writeVarint(1 as UInt64); $0.writeInt32(.max); $0.writeSigned(1) }
                == .valueOutOfRange(field: "tid", value: UInt64(Int32.max) + 1))
        // (Kinds 2-8 are the interpreters' (docs/wire-format.md): 99 is none.)
        #expect(kind(.stackDefinition) { $0.writeVarint(1 as UInt64); $0.writeVarint(99 as UInt64); $0.writeVarint(0 as UInt64) }
                == .valueOutOfRange(field: "stack kind", value: 99))
        #expect(kind(.kernelSymbols) { $0.writeVarint(1 as UInt64); $0.writeSigned(5); $0.writeVarint(0x80 as UInt64); $0.writeBytes([0, 0]) }
                == .valueOutOfRange(field: "kernel symbol type", value: 0x80))
        #expect(kind(.process) { w in w.writeBytes([1, 1, 0, 0, 0, 0]); w.writeVarint(2 as UInt64) } == .valueOutOfRange(field: "exec flag", value: 2))
        #expect(kind(.sample) { w in w.writeBytes([0, 1]); w.writeVarint(1 << 32 as UInt64) } == .valueOutOfRange(field: "cpu", value: 1 << 32))
        // Eleven-byte varint, and a tenth byte above 1.
        #expect(kind(.processExit) { $0.writeBytes(Array(repeating: 0xFF, count: 10) + [0x01]) } == .malformedVarint)
        #expect(kind(.processExit) { $0.writeBytes(Array(repeating: 0xFF, count: 9) + [0x02]) } == .malformedVarint)
        // A string that is not UTF-8.
        #expect(kind(.process) { w in w.writeBytes([1, 1, 0, 2, 0xC3, 0x28]) } == .invalidUTF8)
        // A varint that runs past its record, though more bytes follow in the stream.
        var stream = RawStream()
        stream.record(.processExit) { $0.writeBytes([0x80, 0x80]) }
        stream.record(.resetInterning) { _ in }
        #expect(decodingError(stream.bytes)?.kind == .truncated)
    }

    @Test func malformedRecordHeaderVarintsAreRefused() throws {
        var type = RawStream()
        let offset = type.count
        type.raw(Array(repeating: 0xFF, count: 11))
        let error = try #require(decodingError(type.bytes))
        #expect(error.kind == .malformedVarint && error.offset == offset && error.recordType == nil)
        #expect(error.description.hasPrefix("malformed stream: record at byte offset \(offset)"))

        var length = RawStream()
        length.raw([3] + Array(repeating: 0xFF, count: 11))
        let lengthError = try #require(decodingError(length.bytes))
        #expect(lengthError.kind == .malformedVarint && lengthError.recordType == 3)
    }

    // MARK: Identifiers

    @Test func referencesToUndefinedIdsAreRefused() throws {
        var noThread = RawStream()
        let offset = noThread.count
        noThread.sample(thread: 1)
        let error = try #require(decodingError(noThread.bytes))
        #expect(error.kind == .undefinedReference(what: "thread", id: 1))
        #expect(error.description == "malformed stream: sample at byte offset \(offset): thread id 1 was never defined")

        var zeroThread = RawStream()
        zeroThread.thread(id: 1, pid: 4, tid: 4)
        zeroThread.sample(thread: 0)
        #expect(decodingError(zeroThread.bytes)?.kind == .undefinedReference(what: "thread", id: 0))

        var noStack = RawStream()
        noStack.thread(id: 1, pid: 4, tid: 4)
        noStack.stack(id: 1, kind: .user, frames: [1])
        noStack.sample(thread: 1, user: 2)
        #expect(decodingError(noStack.bytes)?.kind == .undefinedReference(what: "user stack", id: 2))

        var noKernelStack = RawStream()
        noKernelStack.thread(id: 1, pid: 4, tid: 4)
        noKernelStack.sample(thread: 1, kernel: 1 << 40)
        #expect(decodingError(noKernelStack.bytes)?.kind == .undefinedReference(what: "kernel stack", id: 1 << 40))
    }

    @Test func stackIdOfTheWrongKindIsRefused() throws {
        var stream = RawStream()
        stream.thread(id: 1, pid: 4, tid: 4)
        stream.stack(id: 1, kind: .user, frames: [1, 2])
        stream.stack(id: 2, kind: .kernel, frames: [3])
        stream.sample(thread: 1, kernel: 2, user: 1)
        let offset = stream.count
        stream.sample(thread: 1, kernel: 1, user: 1)
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .valueOutOfRange(field: "kernel stack id", value: 1))
        #expect(error.offset == offset)

        var user = RawStream()
        user.thread(id: 1, pid: 4, tid: 4)
        user.stack(id: 1, kind: .kernel, frames: [3])
        user.sample(thread: 1, user: 1)
        #expect(decodingError(user.bytes)?.kind == .valueOutOfRange(field: "user stack id", value: 1))

        // The interpreter field takes a stack of any runtime's kind, and no other.
        var interpreter = RawStream()
        interpreter.thread(id: 1, pid: 4, tid: 4)
        interpreter.stack(id: 1, kind: .user, frames: [3, 4])
        interpreter.sample(thread: 1, interpreter: 1)
        #expect(decodingError(interpreter.bytes)?.kind == .valueOutOfRange(field: "interpreter stack id", value: 1))

        var oddWords = RawStream()
        oddWords.stack(id: 1, kind: .cpython, frames: [3, 4, 5])
        #expect(decodingError(oddWords.bytes)?.kind == .valueOutOfRange(field: "interpreter frame words", value: 3))
    }

    @Test func definitionsOutOfSequenceAreRefused() throws {
        var stacks = RawStream()
        stacks.stack(id: 1, kind: .user, frames: [1])
        let offset = stacks.count
        stacks.stack(id: 3, kind: .user, frames: [1])
        let error = try #require(decodingError(stacks.bytes))
        #expect(error.kind == .unexpectedDefinitionID(expected: 2, found: 3))
        #expect(error.description == "malformed stream: stackDefinition at byte offset \(offset): definition id 3 where 2 was expected")

        var again = RawStream()
        again.thread(id: 1, pid: 1, tid: 1)
        again.thread(id: 1, pid: 1, tid: 2)
        #expect(decodingError(again.bytes)?.kind == .unexpectedDefinitionID(expected: 2, found: 1))

        // After a reset, ids start over and old ids are undefined.
        var reset = RawStream()
        reset.thread(id: 1, pid: 1, tid: 1)
        reset.record(.resetInterning) { _ in }
        reset.sample(thread: 1)
        #expect(decodingError(reset.bytes)?.kind == .undefinedReference(what: "thread", id: 1))
    }

    // MARK: Stream structure

    @Test func unknownRecordTypesAreSkippedByLength() throws {
        var stream = RawStream()
        stream.thread(id: 1, pid: 9, tid: 9)
        stream.record(200) { $0.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        stream.record(1 << 35) { _ in }
        stream.sample(thread: 1)
        stream.record(12) { $0.writeBytes([1, 2, 3]) }
        stream.record(.endOfStream) { $0.writeEndOfStream(EndOfStream(time: 5, reason: .finished)) }
        for chunk in [1, 3, 1000] {
            let decoded = decodeChunked(stream.bytes, chunkSizes: [chunk])
            #expect(decoded.error == nil)
            let kinds = decoded.records.dropFirst(2).prefix(4)
            #expect(Array(kinds.filter { if case .unknown = $0 { true } else { false } })
                    == [.unknown(type: 200, length: 10), .unknown(type: 1 << 35, length: 0), .unknown(type: 12, length: 3)])
            #expect(decoded.records.count == 7)
        }
        // Fields a later version appends to a known record are skipped too.
        var longer = RawStream()
        longer.record(.processExit) { $0.writeProcessExit(ProcessExit(pid: 3, time: 4)); $0.writeBytes([9, 9, 9]) }
        #expect(decodeChunked(longer.bytes, chunkSizes: [2]).records.last == .processExit(ProcessExit(pid: 3, time: 4)))
    }

    @Test func dataAfterEndOfStreamIsRefused() throws {
        var stream = RawStream()
        stream.record(.endOfStream) { $0.writeEndOfStream(EndOfStream(time: 5, reason: .finished)) }
        let offset = stream.count
        stream.record(.processExit) { $0.writeProcessExit(ProcessExit(pid: 3, time: 4)) }
        let error = try #require(decodingError(stream.bytes))
        #expect(error.kind == .dataAfterEndOfStream && error.offset == offset)
        #expect(error.recordType == RecordType.processExit.rawValue)
        #expect(error.description == "malformed stream: processExit at byte offset \(offset): data after the end-of-stream record")
    }

    @Test func unsupportedVersionIsRefused() throws {
        let bytes = StreamHeader.magic + [2, 0]
        let error = try #require(decodingError(bytes))
        #expect(error.kind == .unsupportedVersion(2))
        #expect(error.recordType == nil && error.offset == 0)
        #expect(error.description.contains("header at byte offset 0: format version 2 is not supported"))
    }

    @Test func badMagicIsRefusedFromTheFirstWrongByte() throws {
        let error = try #require(decodingError(Array("TNDX".utf8) + [1, 0]))
        #expect(error.kind == .badMagic && error.offset == 0)
        #expect(error.description == "malformed stream: header at byte offset 0: not a tandem stream (the first bytes are not \"TNDM\")")
        // Two bytes are enough to tell: the decoder does not wait for more.
        var decoder = StreamDecoder()
        decoder.feed(Array("{\"".utf8))
        #expect(throws: WireFormatError(kind: .badMagic, recordType: nil, offset: 0)) { try decoder.next() }
        // An empty input is a truncated header.
        #expect(decodingError([]) == WireFormatError(kind: .truncated, recordType: nil, offset: 0))
    }

    @Test func aFailedDecoderStaysFailed() throws {
        var stream = RawStream()
        stream.sample(thread: 3)
        var decoder = StreamDecoder()
        decoder.feed(stream.bytes)
        _ = try decoder.next()
        let first = #expect(throws: WireFormatError.self) { try decoder.next() }
        decoder.feed(RawStream().bytes)
        let second = #expect(throws: WireFormatError.self) { try decoder.next() }
        #expect(first == second)
        #expect(throws: WireFormatError.self) { try decoder.finish() }
    }

    @Test func finishInsideARecordNamesIt() throws {
        var stream = RawStream()
        let offset = stream.count
        stream.record(.mappings) { $0.writeBytes([1, 0]) }
        var decoder = StreamDecoder()
        decoder.feed(stream.bytes.dropLast())
        #expect(try decoder.next() == .header(testHeader))
        #expect(try decoder.next() == nil)
        let error = #expect(throws: WireFormatError.self) { try decoder.finish() }
        #expect(error == WireFormatError(kind: .truncated, recordType: RecordType.mappings.rawValue, offset: offset))
        #expect(error?.description == "malformed stream: mappings at byte offset \(offset): the data ends inside the record")
    }

    // MARK: Memory

    /// A record length within the limit is not allocated up front: the decoder
    /// holds only what was fed.
    @Test func declaredLengthIsNotAllocatedUpFront() throws {
        var stream = RawStream()
        stream.raw(varint(99) + varint(UInt64(DecoderLimits.default.maximumRecordLength)) + [1, 2, 3])
        var decoder = StreamDecoder()
        decoder.feed(stream.bytes)
        #expect(try decoder.next() == .header(testHeader))
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 3 + 1 + varint(UInt64(DecoderLimits.default.maximumRecordLength)).count)
        #expect(decoder.retainedBufferCapacity < 4096)
    }

    /// Fed chunk by chunk and drained, the decoder's buffer stays near one chunk
    /// however long the stream.
    @Test func bufferStaysBoundedOverALongStream() throws {
        var encoder = StreamEncoder(header: testHeader)
        var decoder = StreamDecoder()
        var samples = 0
        var largestBuffer = 0
        for round in 0..<200 {
            for index in 0..<500 {
                let time = UInt64(round * 500 + index) * 5_000_000
                encoder.appendSample(time: time, pid: 10, tid: Int32(10 + index % 4), cpu: UInt32(index % 2),
                                     kernelStack: [], userStack: [UInt64(index % 50), 0x4000, 0x5000])
            }
            decoder.feed(encoder.takeBytes())
            while let record = try decoder.next() {
                if case .sample = record { samples += 1 }
            }
            largestBuffer = max(largestBuffer, decoder.retainedBufferCapacity)
        }
        try decoder.finish()
        #expect(samples == 100_000)
        #expect(largestBuffer < 64 << 10)
    }
}

extension DecoderRobustnessTests {
    /// Found by the fuzzer: the error must not depend on how the bytes after
    /// the end of stream were chunked.
    @Test func dataAfterEndOfStreamIsTheSameErrorInAnyChunking() throws {
        var stream = RawStream()
        stream.record(.endOfStream) { $0.writeEndOfStream(EndOfStream(time: 5, reason: .finished)) }
        let offset = stream.count
        stream.raw(varint(797_344) + [1])
        let whole = decodeChunked(stream.bytes, chunkSizes: [stream.count]).error
        #expect(whole == WireFormatError(kind: .dataAfterEndOfStream, recordType: 797_344, offset: offset))
        for size in 1...4 {
            #expect(decodeChunked(stream.bytes, chunkSizes: [size]).error == whole)
        }
        // Cut inside the type: reported at finish, without a type.
        let cut = decodeChunked(Array(stream.bytes.prefix(offset + 1)), chunkSizes: [1]).error
        #expect(cut == WireFormatError(kind: .dataAfterEndOfStream, recordType: nil, offset: offset))
        #expect(cut?.description == "malformed stream: record at byte offset \(offset): data after the end-of-stream record")
    }
}
