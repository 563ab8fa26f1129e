/// Reads little-endian values from one bounded range of a file.
///
/// Every read checks the range first and throws instead of trapping; errors name the
/// range's section and the offset inside it. Positions are absolute indices into `bytes`.
package struct ByteCursor {
    package let bytes: [UInt8]
    /// Absolute index of the first byte of the section (offsets in errors count from here).
    package let sectionStart: Int
    /// Absolute index one past the last readable byte.
    package let end: Int
    package let section: String
    package var position: Int

    package init(bytes: [UInt8], start: Int, end: Int, section: String) {
        precondition(0 <= start && start <= end && end <= bytes.count)
        self.bytes = bytes
        self.sectionStart = start
        self.end = end
        self.section = section
        self.position = start
    }

    /// The same bytes, bounded to `start..<end` (which must lie inside this cursor's range).
    package func subrange(_ start: Int, _ end: Int) -> ByteCursor {
        var cursor = ByteCursor(bytes: bytes, start: sectionStart, end: end, section: section)
        cursor.position = start
        return cursor
    }

    package var remaining: Int { end - position }
    package var isAtEnd: Bool { position >= end }
    /// Offset of the current position from the start of the section.
    package var offset: Int { position - sectionStart }

    package func error(_ kind: UnwindTableError.Kind, at absolute: Int? = nil) -> UnwindTableError {
        UnwindTableError(kind, section: section, offset: (absolute ?? position) - sectionStart)
    }

    @inline(__always)
    package mutating func require(_ count: Int) throws(UnwindTableError) {
        guard count >= 0, count <= end - position else { throw error(.truncated) }
    }

    package mutating func skip(_ count: Int) throws(UnwindTableError) {
        try require(count)
        position += count
    }

    @inline(__always)
    package mutating func u8() throws(UnwindTableError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    @inline(__always)
    package mutating func u16() throws(UnwindTableError) -> UInt16 {
        try require(2)
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }

    @inline(__always)
    package mutating func u32() throws(UnwindTableError) -> UInt32 {
        try require(4)
        defer { position += 4 }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[position + index]) << (8 * index) }
        return value
    }

    @inline(__always)
    package mutating func u64() throws(UnwindTableError) -> UInt64 {
        try require(8)
        defer { position += 8 }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[position + index]) << (8 * index) }
        return value
    }

    package mutating func uleb128() throws(UnwindTableError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw error(.truncated, at: start) }
            let byte = bytes[position]
            position += 1
            let low = UInt64(byte & 0x7F)
            if shift == 63 && low > 1 { throw error(.malformedLEB128, at: start) }
            if shift < 64 { result |= low << shift }
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw error(.malformedLEB128, at: start) }
        }
    }

    package mutating func sleb128() throws(UnwindTableError) -> Int64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw error(.truncated, at: start) }
            let byte = bytes[position]
            position += 1
            if shift > 63 { throw error(.malformedLEB128, at: start) }
            result |= UInt64(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 { result |= ~UInt64(0) << shift }
                return Int64(bitPattern: result)
            }
        }
    }

    /// A NUL-terminated string; the NUL is consumed, not returned.
    package mutating func cString() throws(UnwindTableError) -> String {
        let start = position
        var index = position
        while index < end && bytes[index] != 0 { index += 1 }
        guard index < end else { throw error(.unterminatedString, at: start) }
        position = index + 1
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
