import Testing
@testable import WireFormat
import StreamDecoding

/// PHP frames on the wire (docs/wire-format.md): frame words, function records, the stack
/// kind a sample's interpreter stack is decoded with, and control record 29.
@Suite struct PHPRecordsTests {
    @Test func frameWordsRoundTrip() {
        let frame = PHPFrame(function: 0x5555_1234_5678, fingerprint: 0xdead_beef, line: 4242, flags: [.entry, .internal])
        let words = frame.words
        #expect(words.1 == UInt64(0xdead_beef) << 32 | UInt64(4242) << 8 | 5)
        #expect(PHPFrame(words: words.0, words.1) == frame)
        // Lines past 24 bits are sent as unknown.
        #expect(PHPFrame(function: 1, fingerprint: 1, line: 0x100_0000, flags: []).line == 0)
    }

    @Test func phpSamplesAndFunctionsRoundTrip() throws {
        let frames = [PHPFrame(function: 0x1000, fingerprint: 7, line: 12, flags: []),
                      PHPFrame(function: 0x2000, fingerprint: 8, line: 3, flags: [.entry])]
        let words = frames.flatMap { [$0.words.0, $0.words.1] }
        let function = PHPFunctionRecord(pid: 42, function: 0x1000, fingerprint: 7, phpVersion: 0x0802, flags: 2, type: 2,
                                         hasName: true, hasClass: true, lineStart: 26, name: Array("beta".utf8),
                                         className: Array("Calc".utf8), file: Array("x.php".utf8))
        let topLevel = PHPFunctionRecord(pid: 42, function: 0x2000, fingerprint: 8, phpVersion: 0x0802, flags: 0, type: 2,
                                         hasName: false, hasClass: false, lineStart: 1, name: [], className: [],
                                         file: Array("x.php".utf8))
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.phpFunction(function))
        encoder.append(.phpFunction(topLevel))
        words.withUnsafeBufferPointer { stack in
            encoder.appendSample(time: 5, pid: 42, tid: 42, cpu: 0, kernelStack: UnsafeBufferPointer(start: nil, count: 0),
                                 userStack: UnsafeBufferPointer(start: nil, count: 0), interpreterStack: stack,
                                 interpreterStackKind: .php)
        }
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [7, 4096])
        #expect(records.error == nil)
        #expect(records.records.contains(.phpFunction(function)))
        #expect(records.records.contains(.phpFunction(topLevel)))
        let samples = records.records.compactMap { if case .sample(let sample) = $0 { sample } else { nil } }
        #expect(samples.count == 1)
        #expect(samples.first?.interpreterStackKind == .php)
        #expect(samples.first?.phpFrames == frames)
        #expect(samples.first?.perlFrames == [])
    }

    @Test func functionCopiesAreBoundedOnTheWire() {
        let huge = [UInt8](repeating: 0x41, count: PHPFunctionRecord.maximumCopyBytes + 100)
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.phpFunction(PHPFunctionRecord(pid: 1, function: 1, fingerprint: 1, phpVersion: 0x0802, flags: 0,
                                                      type: 1, hasName: true, hasClass: true, lineStart: 0, name: huge,
                                                      className: huge, file: huge)))
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [4096])
        #expect(records.error == nil)
        guard case .phpFunction(let function) = records.records.last else {
            Issue.record("no function record in \(records.records)")
            return
        }
        #expect(function.name.count == PHPFunctionRecord.maximumCopyBytes)
        #expect(function.className.count == PHPFunctionRecord.maximumCopyBytes)
        #expect(function.file.count == PHPFunctionRecord.maximumCopyBytes)
    }

    /// A type word past the engine's byte and the two flag bits is refused, not truncated.
    @Test func functionTypeOutOfRangeIsAnError() {
        var payload = ByteWriter()
        payload.writeInt32(1)
        payload.writeVarint(0x1000)      // function
        payload.writeVarint(1)           // fingerprint
        payload.writeVarint(0x0802)      // version
        payload.writeVarint(0)           // flags
        payload.writeVarint(0x400)       // type word: out of range
        payload.writeVarint(0)           // line start
        for _ in 0..<3 { payload.writeVarint(0) }
        var encoder = StreamEncoder(header: testHeader)
        var bytes = encoder.takeBytes()
        bytes += varint(RecordType.phpFunction.rawValue) + varint(UInt64(payload.count)) + payload.bytes
        let records = decodeChunked(bytes, chunkSizes: [4096])
        #expect(records.error != nil)
    }

    @Test func phpProcessControlRecordRoundTrips() {
        let records: [ControlRecord] = [
            .phpProcess(PHPProcess(pid: 4242, phpVersion: 0x0802, executorGlobalsAddress: 0x5555_5590_86f4, device: 0xfe00,
                                   inode: 16_236_575)),
            .phpProcess(PHPProcess(pid: -1, phpVersion: .max, executorGlobalsAddress: .max, device: .max, inode: 0)),
            .phpProcess(PHPProcess(pid: 4243, phpVersion: 0x0802, executorGlobalsAddress: 0x5555_5590_86f4, device: 0xfe00,
                                   inode: 16_236_575, executeDispatch: 0x5555_5536_cc25, dispatchCFAOffset: 160,
                                   jitStart: 0x5555_4d00_0000, jitEnd: 0x5555_5100_0000)),
        ]
        let bytes = encodeControl(records)
        for chunk in [1, 3, bytes.count] {
            let decoded = decodeControl(bytes, chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == records)
        }
    }

    private func varint(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeVarint(value)
        return writer.bytes
    }
}
