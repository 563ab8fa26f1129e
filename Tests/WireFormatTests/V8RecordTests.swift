import Testing
@testable import StreamDecoding
@testable import WireFormat

@Suite struct V8RecordTests {
    let function = V8FunctionRecord(
        pid: 4242, sharedFunctionInfo: 0x3567_dfc5_80c9, fingerprint: 0xdead_beef, v8Version: 0x0b03_00f4, flags: 0x10,
        nameType: 8, scriptNameType: 40, sharedFunctionInfoBytes: Array(0..<64).map { UInt8($0) },
        scopeInfoSlots: [UInt8](repeating: 7, count: 192), name: Array("fnAlpha".utf8), scriptName: [],
        bytecodePositionTable: [0x02, 0x9a, 0x01, 0x10])

    @Test func functionRecordRoundTrips() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.v8Function(function))
        let bytes = encoder.takeBytes()
        for chunk in [1, 5, 4096] {
            let records = try decodeAll(bytes, chunkSize: chunk)
            #expect(records.dropFirst().map { $0 } == [.v8Function(function)])
        }
    }

    /// A record of an earlier sampler ends after the four copies: it decodes, without a table.
    @Test func functionRecordWithoutTableDecodes() throws {
        var writer = ByteWriter()
        writer.writeV8Function(function)
        let table = function.bytecodePositionTable
        let earlier = Array(writer.bytes.dropLast(table.count + 1))
        let decoded = try earlier.withUnsafeBytes { raw throws(WireFormatError.Kind) in
            var reader = ByteReader(raw)
            return try reader.readV8Function()
        }
        var expected = function
        expected.bytecodePositionTable = []
        #expect(decoded == expected)
    }

    @Test func functionCopiesAreBounded() throws {
        var long = function
        long.name = [UInt8](repeating: 65, count: V8FunctionRecord.maximumCopyBytes + 10)
        var writer = ByteWriter()
        writer.writeV8Function(long)
        let decoded = try writer.bytes.withUnsafeBytes { raw throws(WireFormatError.Kind) in
            var reader = ByteReader(raw)
            return try reader.readV8Function()
        }
        #expect(decoded.name.count == V8FunctionRecord.maximumCopyBytes)

        // A type wider than 16 bits is refused by name.
        var bad = ByteWriter()
        bad.writeInt32(1)
        bad.writeVarint(UInt64(1))
        bad.writeVarint(UInt64(2))
        bad.writeVarint(UInt64(3))
        bad.writeVarint(UInt64(0))
        bad.writeVarint(UInt64(0x10000))
        bad.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.valueOutOfRange(field: "name type", value: 0x10000)) {
                try reader.readV8Function()
            }
        }
    }

    let code = V8CodeRecord(
        pid: 4242, instructionStart: 0x7f85_09fd_2080, fingerprint: 0x1234_5679, v8Version: 0x0b03_00f4, code: 0x2a1f_0001,
        instructionSize: 4512, codeKind: 13, flags: 0x10,
        inlinedFunctions: [V8InlinedFunction(sharedFunctionInfo: 0x3567_dfc5_80c9, fingerprint: 7),
                           V8InlinedFunction(sharedFunctionInfo: 0x3567_dfc5_8101, fingerprint: 9)],
        inliningPositions: Array(0..<32), sourcePositionTable: Array(repeating: 0x81, count: 277))

    @Test func codeRecordRoundTrips() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.v8Code(code))
        let bytes = encoder.takeBytes()
        for chunk in [1, 7, 4096] {
            #expect(try decodeAll(bytes, chunkSize: chunk).dropFirst().map { $0 } == [.v8Code(code)])
        }
    }

    @Test func codeRecordsAreBounded() throws {
        var long = code
        long.sourcePositionTable = [UInt8](repeating: 1, count: V8CodeRecord.maximumCopyBytes + 3)
        var writer = ByteWriter()
        writer.writeV8Code(long)
        let decoded = try writer.bytes.withUnsafeBytes { raw throws(WireFormatError.Kind) in
            var reader = ByteReader(raw)
            return try reader.readV8Code()
        }
        #expect(decoded.sourcePositionTable.count == V8CodeRecord.maximumCopyBytes)

        // A count of inlined functions the bytes cannot hold is refused before anything is allocated.
        var bad = ByteWriter()
        bad.writeInt32(1)
        for value in [UInt64(1), 2, 3, 4, 5, 13, 0] { bad.writeVarint(value) }
        bad.writeVarint(UInt64(V8CodeRecord.maximumInlinedFunctions))
        bad.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.self) { try reader.readV8Code() }
        }
    }

    @Test func framesCarryTheirCodesFingerprint() {
        let frame = V8Frame(pc: 0x7f00_0000_1234, sharedFunctionInfo: 0x1_0000_0009, fingerprint: 3, offset: 0x4d2,
                            kind: .compiled, codeKind: 13, flags: [.sampledPC], codeFingerprint: 0xfeed_beef)
        #expect(V8Frame.frames(words: frame.words) == [frame])
    }

    @Test func framesPackIntoFourWords() {
        let frames = [
            V8Frame(pc: 0x7f00_0000_1234, sharedFunctionInfo: 0x1_0000_0009, fingerprint: 0x1234_5678, offset: 57,
                    kind: .interpreted, codeKind: 2, flags: []),
            V8Frame(pc: 0x5555_0000_0001, sharedFunctionInfo: 0, fingerprint: 0, offset: V8Frame.unknownOffset,
                    kind: .compiled, codeKind: 13, flags: [.functionUnreadable, .pcOutsideCode]),
        ]
        let words = frames.flatMap(\.words)
        #expect(words.count == 8)
        #expect(V8Frame.frames(words: words) == frames)
        // A partial frame at the end is not read.
        #expect(V8Frame.frames(words: Array(words.dropLast())) == [frames[0]])
    }

    @Test func v8StacksHoldWholeFrames() throws {
        var writer = ByteWriter()
        writer.writeVarint(UInt64(1))
        writer.writeVarint(StackKind.v8.rawValue)
        writer.writeVarint(UInt64(3))
        for _ in 0..<3 { writer.writeSigned(1) }
        writer.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.valueOutOfRange(field: "interpreter frame words", value: 3)) {
                try reader.readStackDefinition(limits: .default)
            }
        }
    }

    @Test func processControlRecordRoundTrips() {
        let records: [ControlRecord] = [
            .v8Process(V8Process(pid: 77, v8Version: 0x0b03_00f4, v8Patch: 8, address: 0x5555_5aaa_0c10, device: 0x803,
                                 inode: 123)),
            .v8Process(V8Process(pid: -1, v8Version: .max, v8Patch: 0, address: .max, device: .max, inode: 0)),
        ]
        let bytes = encodeControl(records)
        for chunk in [1, 3, bytes.count] {
            let decoded = decodeControl(bytes, chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == records)
        }
    }
}
