import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

private func patched(_ bytes: [UInt8], at offset: Int, _ replacement: [UInt8]) -> [UInt8] {
    var bytes = bytes
    bytes.replaceSubrange(offset..<offset + replacement.count, with: replacement)
    return bytes
}

private func entryOffset(_ index: Int) -> Int { UnwindTable.headerSize + index * UnwindTable.entrySize }

/// A small table exercising every rule kind, from a synthetic .eh_frame.
private func everyKindTable() throws -> UnwindTable {
    var builder = CFIBuilder(.ehFrame)
    let cie = builder.cie()
    let plt: [UInt8] = [0x77, 0x08, 0x80, 0x00, 0x3F, 0x1A, 0x3B, 0x2A, 0x33, 0x24, 0x22]
    builder.fde(cie: cie, start: 0x1000, length: 0x10, instructions: [0x0F, UInt8(plt.count)] + plt)
    builder.fde(cie: cie, start: 0x1020, length: 0x40, instructions: [
        0x41, 0x0E, 0x10, 0x86, 0x02,       // rsp+16, rbp at CFA-16
        0x43, 0x0D, 0x06,                   // rbp+16
        0x41, 0x0C, 0x0A, 0x00,             // r10: unsupported
        0x41, 0x0C, 0x07, 0x08, 0x07, 0x06, // rsp+8, rbp undefined
        0x41, 0x07, 0x10,                   // end of stack
    ])
    return try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes))
}

@Suite struct SerializationTests {
    @Test func everyRuleKindRoundTrips() throws {
        let table = try everyKindTable()
        let kinds = Set(table.rows.map { row -> String in
            switch row.cfa {
            case .noInfo: "noInfo"
            case .registerOffset(let register, _): "\(register)"
            case .pltExpression: "plt"
            case .endOfStack: "endOfStack"
            case .unsupported: "unsupported"
            }
        })
        #expect(kinds == ["noInfo", "rsp", "rbp", "plt", "endOfStack", "unsupported"])
        #expect(table.rows.contains { $0.rbp == .undefined } && table.rows.contains { $0.rbp == .cfaOffset(-16) })
        let bytes = table.serialized()
        #expect(bytes.count == UnwindTable.headerSize + table.rows.count * UnwindTable.entrySize)
        #expect(Array(bytes[0..<4]) == Array("TUNW".utf8))
        let decoded = try UnwindTable(serialized: bytes)
        #expect(decoded.rows == table.rows)
        #expect(decoded.baseAddress == 0x1000)
        #expect(decoded.serialized() == bytes)
    }

    @Test(arguments: systemBinaries)
    func systemBinaryTablesRoundTrip(path: String) throws {
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let decoded = try UnwindTable(serialized: table.serialized())
        #expect(decoded.rows == table.rows)
        for row in table.rows.prefix(2000) { #expect(decoded.lookup(address: row.startAddress) == table.lookup(address: row.startAddress)) }
    }

    @Test func packedLayoutIsTheDocumentedOne() throws {
        // rbp+16 with rbp at CFA-16: kind 2 | rbp kind 1 << 3 | (-2 as a byte) << 5 | 16 << 13.
        let word = UnwindTable.pack(UnwindRow(startAddress: 0, cfa: .registerOffset(.rbp, offset: 16), rbp: .cfaOffset(-16)))
        #expect(word == 2 | 1 << 3 | 0xFE << 5 | 16 << 13)
        #expect(UnwindTable.pack(UnwindRow(startAddress: 0, cfa: .pltExpression(rspOffset: 8, threshold: 11), rbp: .unchanged))
                == 3 | 11 << 5 | 8 << 13)
        #expect(UnwindTable.pack(UnwindRow(startAddress: 0, cfa: .registerOffset(.rsp, offset: 524_287), rbp: .undefined))
                == 1 | 2 << 3 | 0x7FFFF << 13)
    }

    @Test func emptyTableRoundTrips() throws {
        let empty = try UnwindTable(serialized: Array("TUNW".utf8) + le(UInt16(1)) + le(UInt16(8)) + [UInt8](repeating: 0, count: 16))
        #expect(empty.rows.isEmpty)
        #expect(empty.lookup(address: 0x1000) == nil)
    }

    @Test func malformedTablesAreRejected() throws {
        let bytes = try everyKindTable().serialized()
        let count = (bytes.count - UnwindTable.headerSize) / UnwindTable.entrySize
        func rejection(_ corrupt: [UInt8]) -> UnwindTableError.Kind? {
            do { _ = try UnwindTable(serialized: corrupt); return nil } catch { return error.kind }
        }
        #expect(rejection(Array(bytes.prefix(23))) == .truncated)
        #expect(rejection(patched(bytes, at: 0, Array("TUNX".utf8))) == .badTableMagic)
        #expect(rejection(patched(bytes, at: 4, le(UInt16(2)))) == .unsupportedTableVersion(2))
        #expect(rejection(patched(bytes, at: 6, le(UInt16(12)))) == .badTableField(field: "entry size", value: 12))
        // Counts that disagree with the byte size, in both directions and beyond the bound.
        #expect(rejection(Array(bytes.dropLast())) == .badTableField(field: "entry count (for \(bytes.count - 1) bytes)", value: UInt64(count)))
        #expect(rejection(bytes + [0, 0, 0, 0, 0, 0, 0, 0]) == .badTableField(field: "entry count (for \(bytes.count + 8) bytes)", value: UInt64(count)))
        #expect(rejection(patched(bytes, at: 8, le(UInt32.max))) == .badTableField(field: "entry count", value: UInt64(UInt32.max)))
        #expect(rejection(patched(bytes, at: 12, le(UInt32(1)))) == .badTableField(field: "reserved", value: 1))
        // Order: a first entry not at the base, a repeated start, swapped entries.
        #expect(rejection(patched(bytes, at: entryOffset(0), le(UInt32(4)))) == .badTableField(field: "first entry offset", value: 4))
        let secondStart = Array(bytes[entryOffset(1)..<entryOffset(1) + 4])
        #expect(rejection(patched(bytes, at: entryOffset(2), secondStart)) == .unsortedEntries(index: 2))
        let swapped = patched(patched(bytes, at: entryOffset(1), Array(bytes[entryOffset(2)..<entryOffset(3)])),
                              at: entryOffset(2), Array(bytes[entryOffset(1)..<entryOffset(2)]))
        #expect(rejection(swapped) == .unsortedEntries(index: 2))
        // Addresses past 2^64.
        #expect(rejection(patched(bytes, at: 16, le(UInt64.max))) == .badTableField(field: "base address + entry offset", value: UInt64.max))
        // Rule words: unknown kinds, fields a kind does not use, a PLT threshold above 15.
        for word: UInt32 in [6, 7, 1 | 3 << 3, 0 | 1 << 13, 4 | 1 << 3, 5 | 1 << 5, 1 | 1 << 5, 3 | 16 << 5, 3 | 1 << 3] {
            #expect(rejection(patched(bytes, at: entryOffset(1) + 4, le(word))) == .invalidEntry(index: 1, packed: word), "0x\(String(word, radix: 16))")
        }
        // The last entry must close the covered range.
        let lastRule = entryOffset(count - 1) + 4
        #expect(rejection(patched(bytes, at: lastRule, le(UInt32(1 | 8 << 13)))) == .badTableField(field: "last entry kind (must be no info)", value: 1))
    }

    @Test func everyTruncationOfASerializedTableIsRejected() throws {
        let bytes = try everyKindTable().serialized()
        for cut in 0..<bytes.count {
            #expect(throws: UnwindTableError.self) { try UnwindTable(serialized: Array(bytes[..<cut])) }
        }
    }
}
