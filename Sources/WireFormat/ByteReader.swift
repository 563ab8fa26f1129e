/// Reads the primitive encodings of the wire format from a bounded byte range.
///
/// Every read checks the range first and throws instead of trapping; the reader
/// never trusts a length or a count it reads. Only valid inside the
/// `withUnsafeBytes` scope that produced `base`.
package struct ByteReader {
    private let base: UnsafeRawBufferPointer
    package private(set) var position: Int

    package init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        self.position = 0
    }

    package var remaining: Int { base.count - position }
    package var isAtEnd: Bool { position >= base.count }

    @inline(__always)
    package mutating func readVarint() throws(WireFormatError.Kind) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count else { throw .truncated }
            let byte = base[position]
            position += 1
            if shift == 63 && byte > 1 { throw .malformedVarint }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .malformedVarint }
        }
    }

    @inline(__always)
    package mutating func readSigned() throws(WireFormatError.Kind) -> Int64 {
        ZigZag.decode(try readVarint())
    }

    /// A pid-like 32-bit field.
    package mutating func readInt32(_ field: StaticString) throws(WireFormatError.Kind) -> Int32 {
        let raw = try readVarint()
        guard raw <= UInt64(UInt32.max) else { throw .valueOutOfRange(field: "\(field)", value: raw) }
        return Int32(bitPattern: UInt32(raw))
    }

    package mutating func readUInt32(_ field: StaticString) throws(WireFormatError.Kind) -> UInt32 {
        let raw = try readVarint()
        guard raw <= UInt64(UInt32.max) else { throw .valueOutOfRange(field: "\(field)", value: raw) }
        return UInt32(raw)
    }

    /// A count of entries, each at least `minimumEntrySize` bytes long: a count the
    /// remaining bytes cannot hold is rejected before anything is allocated.
    package mutating func readCount(_ field: StaticString, limit: Int, minimumEntrySize: Int = 1) throws(WireFormatError.Kind) -> Int {
        let raw = try readVarint()
        guard raw <= UInt64(limit) else {
            throw .limitExceeded(what: "\(field)", value: raw, limit: UInt64(limit))
        }
        let count = Int(raw)
        guard count <= remaining / max(1, minimumEntrySize) else { throw .truncated }
        return count
    }

    /// `count` raw bytes; the caller checked `count` against `remaining` (`readCount`).
    package mutating func readBytes(_ count: Int) -> [UInt8] {
        let start = position
        position += count
        return Array(base[start..<start + count])
    }

    package mutating func readString(limit: Int) throws(WireFormatError.Kind) -> String {
        let raw = try readVarint()
        guard raw <= UInt64(limit) else {
            throw .limitExceeded(what: "string length", value: raw, limit: UInt64(limit))
        }
        let length = Int(raw)
        guard length <= remaining else { throw .truncated }
        let start = position
        position += length
        let bytes = UnsafeRawBufferPointer(rebasing: base[start..<start + length])
        guard let string = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .invalidUTF8
        }
        return string
    }
}
