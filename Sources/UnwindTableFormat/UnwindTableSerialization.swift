/// The binary form of a table that the sampler loads into a BPF array map (specified in
/// docs/unwind-tables.md): a 24-byte header, then fixed 8-byte entries sorted by address.
///
///     header   magic "TUNW" · u16 version · u16 entry size (8) · u32 entry count
///              · u32 reserved (0) · u64 base address
///     entry    u32 start offset from the base · u32 packed rules
///
/// All integers little-endian. Packed rules, from bit 0:
///
///     bits 0-2    CFA kind: 0 no info, 1 rsp+offset, 2 rbp+offset, 3 PLT expression,
///                 4 end of stack, 5 unsupported
///     bits 3-4    rbp kind: 0 unchanged, 1 saved at CFA+offset, 2 undefined
///     bits 5-12   signed byte: rbp offset / 8 (rbp kind 1), PLT threshold (CFA kind 3), else 0
///     bits 13-31  CFA offset, 0...524287 (CFA kinds 1-3), else 0
extension UnwindTable {
    public static let formatVersion: UInt16 = 1
    public static let headerSize = 24
    public static let entrySize = 8
    /// Bound on entries a serialized table may hold (libc has about 60 000 rows).
    public static let maximumEntryCount = 1 << 24
    static let magic: [UInt8] = Array("TUNW".utf8)

    enum CFAKind: UInt32 {
        case noInfo = 0, rsp = 1, rbp = 2, plt = 3, endOfStack = 4, unsupported = 5
    }

    /// The rules of `row` packed into 32 bits. Compiled rows always fit.
    static func pack(_ row: UnwindRow) -> UInt32 {
        var kind: CFAKind
        var cfaOffset: Int32 = 0
        var small: Int8 = 0
        switch row.cfa {
        case .noInfo: kind = .noInfo
        case .registerOffset(let register, let offset):
            kind = register == .rsp ? .rsp : .rbp
            cfaOffset = offset
        case .pltExpression(let offset, let threshold):
            kind = .plt
            cfaOffset = offset
            small = Int8(truncatingIfNeeded: threshold)
        case .endOfStack: kind = .endOfStack
        case .unsupported: kind = .unsupported
        }
        var rbpKind: UInt32 = 0
        switch row.rbp {
        case .unchanged: break
        case .cfaOffset(let offset):
            rbpKind = 1
            small = Int8(truncatingIfNeeded: offset / 8)
        case .undefined: rbpKind = 2
        }
        return kind.rawValue | rbpKind << 3 | UInt32(UInt8(bitPattern: small)) << 5
            | (UInt32(truncatingIfNeeded: cfaOffset) & 0x7FFFF) << 13
    }

    /// The rules of a packed word, or `nil` when the word is invalid or not canonical
    /// (a field set that its kind does not use).
    static func unpack(_ word: UInt32, startAddress: UInt64) -> UnwindRow? {
        guard let kind = CFAKind(rawValue: word & 0x7) else { return nil }
        let rbpKind = (word >> 3) & 0x3
        let small = Int8(bitPattern: UInt8(truncatingIfNeeded: word >> 5))
        let cfaOffset = Int32(word >> 13)
        let rbp: FramePointerRule
        switch rbpKind {
        case 0:
            guard small == 0 || kind == .plt else { return nil }
            rbp = .unchanged
        case 1: rbp = .cfaOffset(Int32(small) * 8)
        case 2:
            guard small == 0 else { return nil }
            rbp = .undefined
        default: return nil
        }
        let cfa: CFARule
        switch kind {
        case .noInfo, .endOfStack, .unsupported:
            guard cfaOffset == 0, rbpKind == 0 else { return nil }
            cfa = kind == .noInfo ? .noInfo : kind == .endOfStack ? .endOfStack : .unsupported
        case .rsp: cfa = .registerOffset(.rsp, offset: cfaOffset)
        case .rbp: cfa = .registerOffset(.rbp, offset: cfaOffset)
        case .plt:
            guard rbpKind == 0, (0...15).contains(small) else { return nil }
            cfa = .pltExpression(rspOffset: cfaOffset, threshold: UInt8(small))
        }
        return UnwindRow(startAddress: startAddress, cfa: cfa, rbp: rbp)
    }

    /// The table in the format above.
    public func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerSize + entries.count * Self.entrySize)
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(contentsOf: Self.magic)
        put(Self.formatVersion)
        put(UInt16(Self.entrySize))
        put(UInt32(entries.count))
        put(UInt32(0))
        put(baseAddress)
        // An entry's low half is the offset, its high half the rules: little-endian, it is
        // the serialized entry.
        for entry in entries { put(entry) }
        return bytes
    }

    /// Reads and validates a serialized table: the magic, version and entry size; a
    /// count that matches the byte size exactly and is within `maximumEntryCount`;
    /// a first entry at offset 0; strictly increasing offsets; canonical rule words;
    /// a final `noInfo` entry; no address past 2^64.
    public init(serialized bytes: [UInt8]) throws(UnwindTableError) {
        func fail(_ kind: UnwindTableError.Kind, at offset: Int) -> UnwindTableError {
            UnwindTableError(kind, section: "serialized table", offset: offset)
        }
        var cursor = ByteCursor(bytes: bytes, start: 0, end: bytes.count, section: "serialized table")
        try cursor.require(Self.headerSize)
        guard Array(bytes[0..<4]) == Self.magic else { throw fail(.badTableMagic, at: 0) }
        cursor.position = 4
        let version = try cursor.u16()
        guard version == Self.formatVersion else { throw fail(.unsupportedTableVersion(version), at: 4) }
        let entrySize = try cursor.u16()
        guard entrySize == Self.entrySize else { throw fail(.badTableField(field: "entry size", value: UInt64(entrySize)), at: 6) }
        let count = try cursor.u32()
        guard count <= Self.maximumEntryCount else { throw fail(.badTableField(field: "entry count", value: UInt64(count)), at: 8) }
        guard UInt64(bytes.count - Self.headerSize) == UInt64(count) * UInt64(Self.entrySize) else {
            throw fail(.badTableField(field: "entry count (for \(bytes.count) bytes)", value: UInt64(count)), at: 8)
        }
        let reserved = try cursor.u32()
        guard reserved == 0 else { throw fail(.badTableField(field: "reserved", value: UInt64(reserved)), at: 12) }
        let base = try cursor.u64()

        var entries: [UInt64] = []
        entries.reserveCapacity(Int(count))
        var previous: UInt32 = 0
        var lastRules: UInt32 = 0
        for index in 0..<Int(count) {
            let entryOffset = cursor.position
            let start = try cursor.u32()
            let word = try cursor.u32()
            if index == 0 {
                guard start == 0 else { throw fail(.badTableField(field: "first entry offset", value: UInt64(start)), at: entryOffset) }
            } else {
                guard start > previous else { throw fail(.unsortedEntries(index: index), at: entryOffset) }
            }
            previous = start
            let (address, overflow) = base.addingReportingOverflow(UInt64(start))
            guard !overflow else { throw fail(.badTableField(field: "base address + entry offset", value: base), at: entryOffset) }
            guard Self.unpack(word, startAddress: address) != nil else {
                throw fail(.invalidEntry(index: index, packed: word), at: entryOffset)
            }
            entries.append(Self.entry(offset: start, rules: word))
            lastRules = word
        }
        if !entries.isEmpty, CFAKind(rawValue: lastRules & 7) != .noInfo {
            throw fail(.badTableField(field: "last entry kind (must be no info)", value: UInt64(lastRules & 7)),
                       at: Self.headerSize + (entries.count - 1) * Self.entrySize)
        }
        self.init(entries: entries, baseAddress: entries.isEmpty ? 0 : base, statistics: Statistics())
    }
}
