import Testing
@testable import WireFormat

/// Decodes a control stream fed in chunks of `chunk` bytes; the records and the first error.
func decodeControl(_ bytes: [UInt8], chunk: Int, limits: ControlDecoderLimits = .default)
    -> (records: [ControlRecord], error: ControlStreamError?) {
    var decoder = ControlDecoder(limits: limits)
    var records: [ControlRecord] = []
    var index = 0
    do {
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, chunk))
            decoder.feed(bytes[index..<end])
            while let record = try decoder.next() { records.append(record) }
            index = end
        }
    } catch {
        return (records, error)
    }
    return (records, nil)
}

func encodeControl(_ records: [ControlRecord]) -> [UInt8] {
    var encoder = ControlEncoder()
    return records.flatMap { encoder.encode($0) }
}

let sampleControlRecords: [ControlRecord] = [
    .unwindTable(UnwindTableRecord(tableID: 1, device: 0x803, inode: 123_456, table: Array(0..<200).map { UInt8($0 & 0xFF) })),
    .unwindTable(UnwindTableRecord(tableID: 2, device: 0, inode: .max, table: [])),
    .unwindMappings(UnwindMappings(pid: 4242, entries: [
        UnwindMapping(start: 0x5555_5555_4000, end: 0x5555_5555_9000, tableID: 1, bias: 0 &- 0x5555_5555_3000,
                      device: 0x803, inode: 123_456),
        UnwindMapping(start: 0x7f00_0000_0000, end: 0x7f00_0010_0000, tableID: 2, bias: 0x1000, device: 1, inode: 2),
        UnwindMapping(start: .max - 0x1000, end: .max, tableID: .max, bias: .max, device: .max, inode: 0),
    ])),
    .unwindMappings(UnwindMappings(pid: -1, entries: [])),
    .releaseUnwindTable(tableID: 7),
    .fileRequest(FileRequest(pid: 4242, start: 0x5555_5555_4000, end: 0x5555_5555_9000, device: 0x803, inode: 123_456)),
    .fileRequest(FileRequest(pid: -1, start: .max - 1, end: .max, device: .max, inode: 0)),
]

@Suite struct ControlStreamTests {
    @Test func roundTripsInAnyChunking() {
        let bytes = encodeControl(sampleControlRecords)
        #expect(Array(bytes.prefix(5)) == [0x54, 0x4E, 0x44, 0x43, 0x01])
        for chunk in [1, 2, 7, 64, bytes.count] {
            let decoded = decodeControl(bytes, chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == sampleControlRecords, "chunk \(chunk)")
        }
    }

    @Test func documentedBytes() {
        let bytes = encodeControl([
            .unwindTable(UnwindTableRecord(tableID: 1, device: 0x803, inode: 9, table: [0xAA, 0xBB])),
            .unwindMappings(UnwindMappings(pid: 300, entries: [
                UnwindMapping(start: 0x401000, end: 0x402000, tableID: 1, bias: 0 &- 0x1000, device: 0x803, inode: 9),
            ])),
            .releaseUnwindTable(tableID: 1),
        ])
        let expected: [UInt8] = [0x54, 0x4E, 0x44, 0x43, 0x01,
                                 0x0C, 0x07, 0x01, 0x83, 0x10, 0x09, 0x02, 0xAA, 0xBB,
                                 0x0D, 0x0F, 0xAC, 0x02, 0x01, 0x80, 0xA0, 0x80, 0x02, 0x80, 0x20, 0x01, 0xFF, 0x3F,
                                 0x83, 0x10, 0x09,
                                 0x0E, 0x01, 0x01]
        #expect(bytes == expected)
    }

    @Test func unknownRecordsAreSkippedByLength() {
        var bytes = encodeControl([.releaseUnwindTable(tableID: 3)])
        // 95 and 99: codes no record has (31, used here before, is the BEAM process's now).
        bytes += [0x5F, 0x03, 0x01, 0x02, 0x03, 0x63, 0x00]
        let decoded = decodeControl(bytes, chunk: 1)
        #expect(decoded.error == nil)
        #expect(decoded.records == [.releaseUnwindTable(tableID: 3), .unknown(type: 95, length: 3), .unknown(type: 99, length: 0)])
    }

    @Test func headerErrors() {
        #expect(decodeControl([0x54, 0x4E, 0x44, 0x4D, 0x01], chunk: 1).error?.kind == .badMagic)
        #expect(decodeControl([0x54, 0x4E, 0x44, 0x43, 0x02], chunk: 1).error?.kind == .unsupportedVersion(2))
        let error = decodeControl([0x00], chunk: 1).error
        #expect(error?.recordType == nil)
        #expect(error?.description.contains("control header at byte offset 0") == true)
    }

    @Test func limitsAndMalformedFields() {
        let header: [UInt8] = [0x54, 0x4E, 0x44, 0x43, 0x01]
        let small = ControlDecoderLimits(maximumRecordLength: 100, maximumTableBytes: 10, maximumMappings: 2)
        // Record length above the bound: refused before the payload arrives.
        let long = decodeControl(header + [0x0C, 0xE5, 0x00], chunk: 1, limits: small)
        #expect(long.error?.kind == .limitExceeded(what: "record length", value: 101, limit: 100))
        #expect(long.error?.offset == 5)
        // Table longer than the table bound.
        let table = encodeControl([.unwindTable(UnwindTableRecord(tableID: 1, device: 0, inode: 0, table: .init(repeating: 0, count: 11)))])
        #expect(decodeControl(table, chunk: 3, limits: small).error?.kind == .limitExceeded(what: "table length", value: 11, limit: 10))
        // A table length the payload cannot hold.
        #expect(decodeControl(header + [0x0C, 0x04, 0x01, 0x00, 0x00, 0x05], chunk: 1).error?.kind == .truncated)
        // Table id 0 and above 32 bits.
        #expect(decodeControl(header + [0x0E, 0x01, 0x00], chunk: 1).error?.kind == .valueOutOfRange(field: "table id", value: 0))
        #expect(decodeControl(header + [0x0E, 0x05, 0x80, 0x80, 0x80, 0x80, 0x10], chunk: 1).error?.kind
            == .valueOutOfRange(field: "table id", value: 1 << 32))
        // Too many mappings; overlapping mappings; empty mapping; mapping past 2^64.
        let mapping = UnwindMapping(start: 0x1000, end: 0x2000, tableID: 1, bias: 0, device: 0, inode: 0)
        let three = encodeControl([.unwindMappings(UnwindMappings(pid: 1, entries: [mapping, mapping, mapping]))])
        #expect(decodeControl(three, chunk: 5, limits: small).error?.kind
            == .limitExceeded(what: "unwind mapping count", value: 3, limit: 2))
        #expect(decodeControl(three, chunk: 5).error?.kind
            == .valueOutOfRange(field: "unwind mapping start", value: 0 &- 0x1000))
        let empty = UnwindMapping(start: 0x1000, end: 0x1000, tableID: 1, bias: 0, device: 0, inode: 0)
        #expect(decodeControl(encodeControl([.unwindMappings(UnwindMappings(pid: 1, entries: [empty]))]), chunk: 4).error?.kind
            == .valueOutOfRange(field: "unwind mapping length", value: 0))
        // A payload that ends inside a field.
        let error = decodeControl(header + [0x0D, 0x02, 0x01, 0x01], chunk: 1).error
        #expect(error?.kind == .truncated)
        #expect(error?.recordType == 13)
        #expect(error?.description == "malformed control stream: unwindMappings at byte offset 5: the data ends inside the record")
    }

    @Test func fileRequestBytesAndBounds() {
        let header: [UInt8] = [0x54, 0x4E, 0x44, 0x43, 0x01]
        let bytes = encodeControl([.fileRequest(FileRequest(pid: 300, start: 0x401000, end: 0x402000, device: 0x803, inode: 9))])
        // pid 300, start 0x401000, length 0x1000, dev 0x803, inode 9 (docs/wire-format.md 10.5).
        #expect(bytes == header + [0x0F, 0x0B, 0xAC, 0x02, 0x80, 0xA0, 0x80, 0x02, 0x80, 0x20, 0x83, 0x10, 0x09])
        #expect(decodeControl(header + [0x0F, 0x05, 0x01, 0x10, 0x00, 0x00, 0x00], chunk: 1).error?.kind
            == .valueOutOfRange(field: "file request length", value: 0))
        let past = decodeControl(header + [0x0F, 0x0E, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x02, 0x00, 0x00], chunk: 2)
        #expect(past.error?.kind == .valueOutOfRange(field: "file request length", value: 2))
        let cut = decodeControl(header + [0x0F, 0x03, 0xAC, 0x02, 0x01], chunk: 1).error
        #expect(cut?.kind == .truncated)
        #expect(cut?.recordType == 15)
        #expect(cut?.description == "malformed control stream: fileRequest at byte offset 5: the data ends inside the record")
    }

    @Test func failedDecoderStaysFailed() throws {
        var decoder = ControlDecoder()
        decoder.feed([0x54, 0x4E, 0x44, 0x43, 0x01, 0x0E, 0x01, 0x00])
        #expect(throws: ControlStreamError.self) { try decoder.next() }
        decoder.feed(encodeControl([.releaseUnwindTable(tableID: 1)]))
        #expect(throws: ControlStreamError.self) { try decoder.next() }
    }

    /// Random bytes after a valid header, and every byte of a valid stream flipped:
    /// an error or records, never a trap, with every table within its bound.
    @Test func survivesCorruption() {
        var random = SeededGenerator(seed: 77)
        let limits = ControlDecoderLimits(maximumRecordLength: 4096, maximumTableBytes: 1024, maximumMappings: 64)
        for _ in 0..<2000 {
            let count = Int(random.next() % 64)
            let bytes = [0x54, 0x4E, 0x44, 0x43, 0x01] + (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let decoded = decodeControl(bytes, chunk: Int(random.next() % 9) + 1, limits: limits)
            for case .unwindTable(let table) in decoded.records { #expect(table.table.count <= 1024) }
        }
        let valid = encodeControl(sampleControlRecords)
        for index in valid.indices {
            for pattern: UInt8 in [0x01, 0x80, 0xFF] {
                var bytes = valid
                bytes[index] ^= pattern
                let once = decodeControl(bytes, chunk: bytes.count)
                let byByte = decodeControl(bytes, chunk: 1)
                #expect(once.records == byByte.records)
                #expect(once.error == byByte.error)
            }
        }
    }

    @Test func headerControlVersionIsAnAppendedField() throws {
        var header = testHeader
        #expect(header.controlVersion == 0)
        let old = encode([], header: header)
        header.controlVersion = 1
        let new = encode([], header: header)
        #expect(new.count == old.count + 1)
        let records = decodeChunked(new, chunkSizes: [3]).records
        guard case .header(let decoded) = records.first else {
            Issue.record("no header")
            return
        }
        #expect(decoded.controlVersion == 1)
        guard case .header(let decodedOld) = decodeChunked(old, chunkSizes: [3]).records.first else { return }
        #expect(decodedOld.controlVersion == 0)
    }

    @Test func headerSamplerStartTimeIsAnAppendedFieldAfterTheControlVersion() throws {
        var header = testHeader
        let old = encode([], header: header)
        header.samplerStartTime = 123_456_789
        // Set alone, it brings a control version of 0 before it.
        let new = encode([], header: header)
        #expect(new.count > old.count + 1)
        guard case .header(let decoded) = decodeChunked(new, chunkSizes: [3]).records.first else {
            Issue.record("no header")
            return
        }
        #expect(decoded.samplerStartTime == 123_456_789)
        #expect(decoded.controlVersion == 0)
        guard case .header(let decodedOld) = decodeChunked(old, chunkSizes: [5]).records.first else {
            Issue.record("no header")
            return
        }
        #expect(decodedOld.samplerStartTime == 0)
    }
}
