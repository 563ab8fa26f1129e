/// Appends protocol buffers wire-format fields to a byte buffer.
///
/// Only what the exporters send is here: varints, fixed 64-bit values, doubles and
/// length-delimited fields (strings and nested messages). A nested message is written
/// in place and its length patched in afterwards, so no message is encoded twice.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// The wire types of the protobuf encoding that these messages use.
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
    }

    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func writeTag(_ field: UInt32, _ wireType: WireType) {
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    /// A varint field (`uint64`, `enum`, `bool`); proto3 omits zero values.
    mutating func writeVarintField(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        writeTag(field, .varint)
        writeVarint(value)
    }

    /// An `int64` field: negative values take ten bytes (two's complement), as protobuf
    /// specifies. `always` writes it even when zero (a oneof member).
    mutating func writeInt64Field(_ field: UInt32, _ value: Int64, always: Bool = false) {
        guard always || value != 0 else { return }
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    mutating func writeBoolField(_ field: UInt32, _ value: Bool) {
        writeVarintField(field, value ? 1 : 0)
    }

    /// A `fixed64` or `sfixed64` field, little-endian; `always` writes it even when zero.
    mutating func writeFixed64Field(_ field: UInt32, _ value: UInt64, always: Bool = false) {
        guard always || value != 0 else { return }
        writeTag(field, .fixed64)
        for shift in stride(from: 0, to: 64, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// A `double` field.
    mutating func writeDoubleField(_ field: UInt32, _ value: Double, always: Bool = false) {
        writeFixed64Field(field, value.bitPattern, always: always)
    }

    /// A `string` field; proto3 omits empty strings unless `always` (a oneof member).
    mutating func writeStringField(_ field: UInt32, _ value: String, always: Bool = false) {
        guard always || !value.isEmpty else { return }
        var value = value
        value.withUTF8 { utf8 in
            writeTag(field, .lengthDelimited)
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A nested message field: `body` writes the message's own fields.
    mutating func writeMessageField(_ field: UInt32, _ body: (inout ProtobufWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        // Reserve one length byte, the common case; widen it if the body needs more.
        let lengthOffset = bytes.count
        bytes.append(0)
        let start = bytes.count
        body(&self)
        let length = bytes.count - start
        if length < 0x80 {
            bytes[lengthOffset] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        var value = UInt64(length)
        while value >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        prefix.append(UInt8(value))
        bytes.replaceSubrange(lengthOffset..<start, with: prefix)
    }
}
