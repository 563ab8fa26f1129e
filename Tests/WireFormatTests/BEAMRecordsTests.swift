@testable import StreamDecoding
import Testing
@testable import WireFormat

/// Erlang frames on the wire (docs/wire-format.md): frame words, function records, the stack
/// kind a sample's interpreter stack is decoded with, and control record 31; hostile input.
@Suite struct BEAMRecordsTests {
    static let alpha = BEAMFunctionRecord(pid: 42, codeInfo: 0x7f23_0a89_1000, module: 0x1234b, function: 0x5678b,
                                          arity: 2, ertsMajor: 13, flags: 0, moduleName: Array("known_truth".utf8),
                                          functionName: Array("alpha".utf8),
                                          lineAddresses: [0x5b, 0x1b, 0x49, 0x45, 0xa4, 0x7f, 0, 0, 0xbb, 0x1b, 0x49, 0x45, 0xa4, 0x7f, 0, 0],
                                          locationSize: 4, locations: [0x41, 0, 0, 1, 0x42, 0, 0, 1], fileIndex: 1,
                                          fileName: Array("known_truth.erl".unicodeScalars.flatMap { [UInt8($0.value), 0, 0, 0] }))

    @Test func frameWordsRoundTrip() {
        let frame = BEAMFrame(codeInfo: 0x7f23_0a89_1000, pc: 0x7f23_0a89_1d5f)
        #expect(frame.words == (0x7f23_0a89_1000, 0x7f23_0a89_1d5f))
        #expect(BEAMFrame(words: frame.words.0, frame.words.1) == frame)
        // An odd trailing word is no frame.
        #expect(BEAMFrame.frames(words: [1, 2, 3]) == [BEAMFrame(codeInfo: 1, pc: 2)])
        #expect(StackKind.beam.wordsPerFrame == 2 && StackKind.beam.isInterpreter)
    }

    @Test func beamSamplesAndFunctionsRoundTrip() {
        let frames = [BEAMFrame(codeInfo: 0x1000, pc: 0x1010), BEAMFrame(codeInfo: 0x2000, pc: 0x2044),
                      BEAMFrame(codeInfo: 0, pc: 0x3000)]
        let words = frames.flatMap { [$0.words.0, $0.words.1] }
        let unreadable = BEAMFunctionRecord(pid: 42, codeInfo: 0x2000, module: 0, function: 0, arity: 0, ertsMajor: 13,
                                            flags: 3, moduleName: [], functionName: [])
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.beamFunction(Self.alpha))
        encoder.append(.beamFunction(unreadable))
        words.withUnsafeBufferPointer { stack in
            encoder.appendSample(time: 5, pid: 42, tid: 42, cpu: 0, kernelStack: UnsafeBufferPointer(start: nil, count: 0),
                                 userStack: UnsafeBufferPointer(start: nil, count: 0), interpreterStack: stack,
                                 interpreterStackKind: .beam, interpreterFlags: BEAMWalkFlags.truncated.rawValue)
        }
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [7, 4096])
        #expect(records.error == nil)
        #expect(records.records.contains(.beamFunction(Self.alpha)))
        #expect(records.records.contains(.beamFunction(unreadable)))
        let samples = records.records.compactMap { if case .sample(let sample) = $0 { sample } else { nil } }
        #expect(samples.count == 1)
        #expect(samples.first?.interpreterStackKind == .beam)
        #expect(samples.first?.beamFrames == frames)
        #expect(samples.first?.interpreterFlags == BEAMWalkFlags.truncated.rawValue)
        #expect(samples.first?.phpFrames == [])
    }

    @Test func namesAreBoundedOnTheWire() {
        let huge = [UInt8](repeating: 0x61, count: BEAMFunctionRecord.maximumNameBytes + 100)
        var record = Self.alpha
        record.moduleName = huge
        record.functionName = huge
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.beamFunction(record))
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [4096])
        #expect(records.error == nil)
        guard case .beamFunction(let function) = records.records.last else {
            Issue.record("no function record in \(records.records)")
            return
        }
        #expect(function.moduleName.count == BEAMFunctionRecord.maximumNameBytes)
        #expect(function.functionName.count == BEAMFunctionRecord.maximumNameBytes)
    }

    /// A hand-written record: the fields before the names, the names' lengths as given, then
    /// one line (address 0x1010, line 7 of file 0; `addressLength` as given).
    func functionRecordBytes(major: UInt64 = 13, moduleLength: UInt64 = 1, module: [UInt8] = [0x61],
                             functionLength: UInt64 = 1, function: [UInt8] = [0x62],
                             addressLength: UInt64 = 8) -> [UInt8] {
        var payload = ByteWriter()
        payload.writeInt32(1)
        payload.writeVarint(0x1000)     // code info
        payload.writeVarint(0x4b)       // module atom
        payload.writeVarint(0x8b)       // function atom
        payload.writeVarint(2)          // arity
        payload.writeVarint(major)
        payload.writeVarint(0)          // flags
        payload.writeVarint(moduleLength)
        payload.writeBytes(module)
        payload.writeVarint(functionLength)
        payload.writeBytes(function)
        payload.writeVarint(addressLength)
        payload.writeBytes([0x10, 0x10, 0, 0, 0, 0, 0, 0])
        payload.writeVarint(2)          // location size
        payload.writeVarint(2)
        payload.writeBytes([7, 0])
        payload.writeVarint(0)          // file index
        payload.writeVarint(0)          // no file name
        var encoder = StreamEncoder(header: testHeader)
        return encoder.takeBytes() + varint(RecordType.beamFunction.rawValue) + varint(UInt64(payload.count)) + payload.bytes
    }

    @Test func theHandWrittenRecordDecodes() {
        let records = decodeChunked(functionRecordBytes(), chunkSizes: [4096])
        #expect(records.error == nil)
        guard case .beamFunction(let function) = records.records.last else {
            Issue.record("no function record in \(records.records)")
            return
        }
        #expect(function.moduleName == [0x61] && function.functionName == [0x62] && function.arity == 2)
        #expect(function.lineAddresses == [0x10, 0x10, 0, 0, 0, 0, 0, 0] && function.locationSize == 2
            && function.locations == [7, 0] && function.fileIndex == 0 && function.fileName.isEmpty)
    }

    @Test("hostile function records are errors, not allocations", arguments: [
        ("a name length past the bound", 13, UInt64(BEAMFunctionRecord.maximumNameBytes + 1), 1, 8),
        ("a name length past the record", 13, 200, 1, 8),
        ("a second name length past the record", 13, 1, 1 << 40, 8),
        ("an ERTS major past 32 bits", 1 << 33, 1, 1, 8),
        ("line addresses past the bound", 13, 1, 1, UInt64(BEAMFunctionRecord.maximumLineAddressBytes + 1)),
        ("line addresses past the record", 13, 1, 1, 1 << 12),
    ] as [(String, UInt64, UInt64, UInt64, UInt64)])
    func hostile(_ what: String, _ major: UInt64, _ moduleLength: UInt64, _ functionLength: UInt64, _ addressLength: UInt64) {
        let records = decodeChunked(functionRecordBytes(major: major, moduleLength: moduleLength, functionLength: functionLength,
                                                        addressLength: addressLength),
                                    chunkSizes: [4096])
        #expect(records.error != nil, "\(what)")
    }

    @Test func aCutFunctionRecordIsTruncatedAtEveryByte() {
        let bytes = functionRecordBytes()
        var encoder = StreamEncoder(header: testHeader)
        let header = encoder.takeBytes().count
        for cut in header + 1..<bytes.count {
            let records = decodeChunked(Array(bytes[..<cut]), chunkSizes: [4096])
            #expect(!records.records.contains { if case .beamFunction = $0 { true } else { false } }, "cut at \(cut)")
        }
    }

    @Test func anOddBEAMStackIsRefused() {
        var writer = ByteWriter()
        writer.writeVarint(1)
        writer.writeVarint(StackKind.beam.rawValue)
        writer.writeVarint(3)
        for _ in 0..<3 { writer.writeSigned(1) }
        writer.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.valueOutOfRange(field: "interpreter frame words", value: 3)) {
                try reader.readStackDefinition(limits: .default)
            }
        }
    }

    @Test func beamProcessControlRecordRoundTrips() {
        let records: [ControlRecord] = [
            .beamProcess(BEAMProcess(pid: 4242, ertsMajor: 13, activeCodeIndexAddress: 0x5555_5594_fa44,
                                     rangesAddress: 0x5555_5594_f9e0, atomTableAddress: 0x5555_5598_60c0,
                                     normalExitAddress: 0x5555_5594_f4b0, schedulerDataAddress: 0x5555_5594_e8d0,
                                     schedulerCountAddress: 0x5555_5594_e908, frameLayoutAddress: 0x5555_5594_e918,
                                     dirtySchedulerDataAddress: 0x5555_5594_e8c8, dirtySchedulerCountAddress: 0x5555_5594_e8f8,
                                     device: 0xfe00, inode: 16_236_575)),
            .beamProcess(BEAMProcess(pid: -1, ertsMajor: .max, activeCodeIndexAddress: .max, rangesAddress: 0,
                                     atomTableAddress: .max, normalExitAddress: 1, schedulerDataAddress: .max,
                                     schedulerCountAddress: 0, frameLayoutAddress: 2, dirtySchedulerDataAddress: 3,
                                     dirtySchedulerCountAddress: .max, device: .max, inode: 0)),
        ]
        let bytes = encodeControl(records)
        for chunk in [1, 3, bytes.count] {
            let decoded = decodeControl(bytes, chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == records)
        }
    }

    @Test func aBEAMProcessRecordShorterThanItsFieldsIsAnError() {
        var control = ControlEncoder()
        var bytes = control.encode(.releaseUnwindTable(tableID: 1))
        // The pid, the ERTS major and one address, in a record whose length says so: the other
        // three addresses, the device and the inode are missing.
        var payload = ByteWriter()
        payload.writeInt32(1)
        payload.writeVarint(13)
        payload.writeVarint(0x1000)
        bytes += varint(ControlRecordType.beamProcess.rawValue) + varint(UInt64(payload.count)) + payload.bytes
        let decoded = decodeControl(bytes, chunk: bytes.count)
        #expect(decoded.error != nil)
        #expect(!decoded.records.contains { if case .beamProcess = $0 { true } else { false } })
        // An ERTS major past 32 bits is refused, not truncated.
        var wide = ByteWriter()
        wide.writeInt32(1)
        wide.writeVarint(1 << 33)
        for _ in 0..<6 { wide.writeVarint(1) }
        var tooWide = control.encode(.releaseUnwindTable(tableID: 1))
        tooWide += varint(ControlRecordType.beamProcess.rawValue) + varint(UInt64(wide.count)) + wide.bytes
        #expect(decodeControl(tooWide, chunk: tooWide.count).error != nil)
    }

    private func varint(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeVarint(value)
        return writer.bytes
    }
}
