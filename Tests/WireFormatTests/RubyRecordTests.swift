@testable import StreamDecoding
import Testing
@testable import WireFormat

/// Record 26 (Ruby iseq), control record 27 (Ruby process) and the `ruby` stack's words.
@Suite struct RubyRecordTests {
    static let record = RubyISeqRecord(pid: 4242, iseq: 0x7f00_dead_b000, fingerprint: 0x1234_5678, rubyVersion: 0x0301,
                                       flags: 5, body: Array(0..<152), label: Array("block in alpha".utf8),
                                       path: Array("/srv/app/known_truth.rb".utf8), lineEntries: Array(repeating: 7, count: 36),
                                       succinctTable: Array(repeating: 1, count: 48))

    @Test func iseqRecordsRoundTrip() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.rubyISeq(Self.record))
        let records = try decodeAll(encoder.takeBytes(), chunkSize: 3)
        #expect(records.dropFirst().map { $0 } == [.rubyISeq(Self.record)])
    }

    @Test func copiesPastTheDecodersBoundAreRefused() {
        var writer = ByteWriter()
        writer.writeInt32(1)
        writer.writeVarint(1)
        writer.writeVarint(1)
        writer.writeVarint(0x0301)
        writer.writeVarint(0)
        writer.writeVarint(UInt64(RubyISeqRecord.maximumCopyBytes + 1))
        writer.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: (any Error).self) { try reader.readRubyISeq() }
        }
    }

    @Test func processRecordsRoundTripInAnyChunking() {
        let process = RubyProcess(pid: 77, rubyVersion: 0x0301, moduleSlotAddress: 0x7f12_343a_ea48, tlsOffset: 8,
                                  device: 0x803, inode: 123_456, globalSymbolsAddress: 0x7f12_343a_f1c0)
        for chunk in [1, 2, 7, 64] {
            let decoded = decodeControl(encodeControl([.rubyProcess(process)]), chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == [.rubyProcess(process)])
        }
    }

    /// A record from an aggregator before the symbol table address (2026-12-06) ends after the
    /// inode: read as one without a symbol table.
    @Test func aProcessRecordWithoutTheSymbolTableReadsAsNone() throws {
        var payload = ByteWriter()
        payload.writeInt32(77)
        for value: UInt64 in [0x0301, 0x7f12_343a_ea48, 8, 0x803, 123_456] { payload.writeVarint(value) }
        let record = try payload.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            return try reader.readControlPayload(type: 27, length: raw.count, limits: .default)
        }
        #expect(record == .rubyProcess(RubyProcess(pid: 77, rubyVersion: 0x0301, moduleSlotAddress: 0x7f12_343a_ea48,
                                                   tlsOffset: 8, device: 0x803, inode: 123_456, globalSymbolsAddress: 0)))
    }

    @Test func frameWordsCarryIdentityPositionAndFlags() {
        let frame = RubyFrame(iseq: 0x7f00_0000_1230, fingerprint: 0xfeed_f00d, position: 119, flags: .entry)
        let (first, second) = frame.words
        #expect(RubyFrame(words: first, second) == frame)
        #expect(RubyFrame.frames(words: [first, second, first]) == [frame])
        // Positions past 24 bits are unknown, not wrapped.
        #expect(RubyFrame(iseq: 1, fingerprint: 0, position: 0xffff_ffff, flags: []).position == RubyFrame.unknownPosition)
    }

    @Test func anOddRubyStackIsRefused() {
        var writer = ByteWriter()
        writer.writeVarint(1)
        writer.writeVarint(StackKind.ruby.rawValue)
        writer.writeVarint(3)
        for _ in 0..<3 { writer.writeSigned(1) }
        writer.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: WireFormatError.Kind.valueOutOfRange(field: "interpreter frame words", value: 3)) {
                try reader.readStackDefinition(limits: .default)
            }
        }
    }
}
