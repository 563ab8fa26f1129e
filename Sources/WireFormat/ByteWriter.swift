/// Appends the primitive encodings of the wire format to a byte buffer.
///
/// Integers are LEB128 varints (7 bits per byte, least significant group
/// first); signed values and deltas are zigzag-encoded first so that small
/// negative numbers stay short. Strings are a varint byte count then UTF-8.
@usableFromInline struct ByteWriter {
    @usableFromInline var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    @inline(__always)
    mutating func writeVarint(_ value: some BinaryInteger) {
        writeVarint(UInt64(value))
    }

    /// Writes a signed value (or the difference of two unsigned ones) zigzag-encoded.
    @inline(__always)
    mutating func writeSigned(_ value: Int64) {
        writeVarint(ZigZag.encode(value))
    }

    /// Writes `value` as a pid-like field: the 32-bit pattern as a varint.
    @inline(__always)
    mutating func writeInt32(_ value: Int32) {
        writeVarint(UInt64(UInt32(bitPattern: value)))
    }

    mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func writeBytes(_ other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    var count: Int { bytes.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }
}

/// Zigzag mapping of signed to unsigned integers: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...
package enum ZigZag {
    @inline(__always)
    static func encode(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always)
    package static func decode(_ value: UInt64) -> Int64 {
        Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// The wrapping difference `value - base`, as a signed delta.
    @inline(__always)
    static func delta(_ value: UInt64, from base: UInt64) -> Int64 {
        Int64(bitPattern: value &- base)
    }
}

/// The number of bytes `value` takes as a varint.
@inline(__always)
func varintSize(_ value: UInt64) -> Int {
    var size = 1
    var value = value >> 7
    while value != 0 {
        size += 1
        value >>= 7
    }
    return size
}
