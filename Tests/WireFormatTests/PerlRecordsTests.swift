import Testing
@testable import WireFormat

/// Perl frames on the wire (docs/wire-format.md 5.15, 10.7): frame words, sub records, the
/// stack kind a sample's interpreter stack is decoded with, and control record 25.
@Suite struct PerlRecordsTests {
    @Test func frameWordsRoundTrip() {
        let frame = PerlFrame(address: 0x5555_1234_5678, fingerprint: 0xdead_beef, line: 4242, flags: [.entry, .mainProgram])
        let words = frame.words
        #expect(words.1 == UInt64(0xdead_beef) << 32 | UInt64(4242) << 8 | 5)
        #expect(PerlFrame(words: words.0, words.1) == frame)
        // Lines past 24 bits are sent as unknown.
        #expect(PerlFrame(address: 1, fingerprint: 1, line: 0x100_0000, flags: []).line == 0)
    }

    @Test func perlSamplesAndSubsRoundTrip() throws {
        let frames = [PerlFrame(address: 0x1000, fingerprint: 7, line: 12, flags: []),
                      PerlFrame(address: 0x2000, fingerprint: 8, line: 3, flags: [.entry, .mainProgram])]
        let words = frames.flatMap { [$0.words.0, $0.words.1] }
        let sub = PerlSubRecord(pid: 42, address: 0x1000, fingerprint: 7, perlVersion: 0x05_24_00, flags: 2,
                                name: [1, 2, 3], package: [], file: Array("x.pl".utf8))
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.perlSub(sub))
        words.withUnsafeBufferPointer { stack in
            encoder.appendSample(time: 5, pid: 42, tid: 42, cpu: 0, kernelStack: UnsafeBufferPointer(start: nil, count: 0),
                                 userStack: UnsafeBufferPointer(start: nil, count: 0), interpreterStack: stack,
                                 interpreterStackKind: .perl)
        }
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [7, 4096])
        #expect(records.error == nil)
        #expect(records.records.contains(.perlSub(sub)))
        let samples = records.records.compactMap { if case .sample(let sample) = $0 { sample } else { nil } }
        #expect(samples.count == 1)
        #expect(samples.first?.interpreterStackKind == .perl)
        #expect(samples.first?.perlFrames == frames)
    }

    @Test func subCopiesAreBoundedOnTheWire() {
        let huge = [UInt8](repeating: 0x41, count: PerlSubRecord.maximumCopyBytes + 100)
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.perlSub(PerlSubRecord(pid: 1, address: 1, fingerprint: 1, perlVersion: 0x05_24_00, flags: 0,
                                              name: huge, package: huge, file: huge)))
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [4096])
        #expect(records.error == nil)
        guard case .perlSub(let sub) = records.records.last else {
            Issue.record("no sub record in \(records.records)")
            return
        }
        #expect(sub.name.count == PerlSubRecord.maximumCopyBytes)
        #expect(sub.file.count == PerlSubRecord.maximumCopyBytes)
    }

    @Test func perlProcessControlRecordRoundTrips() {
        let records: [ControlRecord] = [
            .perlProcess(PerlProcess(pid: 4242, perlVersion: 0x05_24_00, threadKeyAddress: 0x5555_5590_86f4, device: 0xfe00,
                                     inode: 16_236_575)),
            .perlProcess(PerlProcess(pid: -1, perlVersion: .max, threadKeyAddress: .max, device: .max, inode: 0)),
        ]
        let bytes = encodeControl(records)
        for chunk in [1, 3, bytes.count] {
            let decoded = decodeControl(bytes, chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == records)
        }
    }
}
