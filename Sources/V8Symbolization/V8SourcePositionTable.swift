/// A V8 source position table as the walker copies it (the data of the `ByteArray` a
/// `BytecodeArray` or a `Code` points to): pairs of (code offset, source position), each a
/// delta from the previous pair, sorted by code offset. It maps a bytecode offset
/// (interpreted frames) or a machine-code offset (compiled frames) to a position in the script.
///
/// Encoding (V8's `source-position-table.cc`): each delta is a signed VLQ, zigzag-coded, 7 bits
/// a byte, least significant first, high bit set on every byte but the last. A code-offset
/// delta `d` is stored as `d` for a statement position and `-d - 1` otherwise. The code offset
/// starts at -1, the source position at 0.
public struct V8SourcePositionTable: Hashable, Sendable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The source position of the last entry at or before `codeOffset`; nil when the table
    /// has none there or is malformed (a cut copy ends in the middle of a number).
    public func sourcePosition(atCodeOffset codeOffset: Int) -> V8SourcePosition? {
        var index = 0
        var code = -1
        var position: Int64 = 0
        var found: V8SourcePosition?
        while index < bytes.count {
            guard let codeDelta = Self.signedVLQ(bytes, &index) else { return found }
            code += codeDelta >= 0 ? Int(clamping: codeDelta) : Int(clamping: -codeDelta - 1)
            if code > codeOffset { return found }
            guard let positionDelta = Self.signedVLQ(bytes, &index) else { return found }
            position &+= positionDelta
            found = V8SourcePosition(raw: UInt64(bitPattern: position))
        }
        return found
    }

    /// Every (code offset, source position) pair, in the table's order, up to where a cut copy
    /// ends; offsets that go backwards (a malformed table) end it too.
    public func entries() -> [(offset: UInt32, position: V8SourcePosition)] {
        var entries: [(offset: UInt32, position: V8SourcePosition)] = []
        var index = 0
        var code = -1
        var position: Int64 = 0
        while index < bytes.count {
            guard let codeDelta = Self.signedVLQ(bytes, &index),
                  let positionDelta = Self.signedVLQ(bytes, &index) else { break }
            let step = codeDelta >= 0 ? Int(clamping: codeDelta) : Int(clamping: -codeDelta - 1)
            let (next, overflow) = code.addingReportingOverflow(step)
            guard !overflow, next >= 0, next <= Int(UInt32.max) else { break }
            code = next
            position &+= positionDelta
            entries.append((UInt32(code), V8SourcePosition(raw: UInt64(bitPattern: position))))
        }
        return entries
    }

    /// One zigzag VLQ at `index` (advanced past it); nil when the bytes end inside it or it
    /// is longer than 64 bits.
    static func signedVLQ(_ bytes: [UInt8], _ index: inout Int) -> Int64? {
        unsignedVLQ(bytes, &index, bits: 64).map { Int64(bitPattern: ($0 >> 1) ^ (0 &- ($0 & 1))) }
    }

    /// One VLQ at `index` (advanced past it): 7 bits a byte, least significant first, the
    /// high bit set on every byte but the last. Nil when the bytes end inside it or it has
    /// more bytes than `bits` need.
    static func unsignedVLQ(_ bytes: [UInt8], _ index: inout Int, bits: UInt64) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            guard shift < bits else { return nil }
            value |= UInt64(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }
}

/// V8's `SourcePosition` bit field: bit 0 external (an embedder's line, not a script
/// offset), bits 1-30 the script offset plus one (0: no position), bits 31-46 the inlining
/// id plus one (0: the code's own function).
public struct V8SourcePosition: Hashable, Sendable {
    public var raw: UInt64

    public init(raw: UInt64) {
        self.raw = raw
    }

    public var isExternal: Bool { raw & 1 == 1 }

    /// The offset in the script's source, in UTF-16 units; nil when none is recorded.
    public var scriptOffset: Int? {
        guard !isExternal else { return nil }
        let stored = Int((raw >> 1) & ((1 << 30) - 1))
        return stored == 0 ? nil : stored - 1
    }

    /// 0 for the function the code belongs to; n > 0 for the code's (n-1)th inlining (its
    /// inlining positions say which function that inlined and where it was called).
    public var inliningID: Int { Int((raw >> 31) & 0xFFFF) }
}
