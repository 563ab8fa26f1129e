/// Appends protocol buffers wire-format fields to a byte buffer: tandem's one
/// hand-written protobuf encoder, for the messages that are encoded on every flush
/// (OTLP metrics, Prometheus remote write) and for pprof files.
///
/// Only what those send is here: varints, fixed 64-bit values, doubles, packed varints
/// and length-delimited fields (strings and nested messages). A nested message is
/// written in place and its length patched in afterwards, so no message is encoded or
/// sized twice. swift-protobuf, which encodes the OTLP profiles messages, sizes every
/// nested message again at each level above it: 8 to 14 times slower on the metrics
/// and remote-write messages, 1.7 times on a pprof profile, which nests less
/// (bench/protobuf-encoders.sh, docs/benchmarks.md).
@frozen
public struct ProtobufWriter {
    /// The message so far.
    @inlinable public var bytes: [UInt8] { storage }
    @usableFromInline var storage: [UInt8] = []

    @inlinable
    public init(reservingCapacity capacity: Int = 0) {
        storage.reserveCapacity(capacity)
    }

    /// The wire types of the protobuf encoding that these messages use.
    public enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
    }

    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            storage.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        storage.append(UInt8(value))
    }

    @inlinable
    public mutating func writeTag(_ field: UInt32, _ wireType: WireType) {
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    /// A varint field (`uint64`, `enum`, `bool`); proto3 omits zero values.
    @inlinable
    public mutating func writeVarintField(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        writeTag(field, .varint)
        writeVarint(value)
    }

    /// An `int64` field: negative values take ten bytes (two's complement), as protobuf
    /// specifies. `always` writes it even when zero (a oneof member).
    @inlinable
    public mutating func writeInt64Field(_ field: UInt32, _ value: Int64, always: Bool = false) {
        guard always || value != 0 else { return }
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    @inlinable
    public mutating func writeBoolField(_ field: UInt32, _ value: Bool) {
        writeVarintField(field, value ? 1 : 0)
    }

    /// A `fixed64` or `sfixed64` field, little-endian; `always` writes it even when zero.
    @inlinable
    public mutating func writeFixed64Field(_ field: UInt32, _ value: UInt64, always: Bool = false) {
        guard always || value != 0 else { return }
        writeTag(field, .fixed64)
        for shift in stride(from: 0, to: 64, by: 8) {
            storage.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// A `double` field.
    @inlinable
    public mutating func writeDoubleField(_ field: UInt32, _ value: Double, always: Bool = false) {
        writeFixed64Field(field, value.bitPattern, always: always)
    }

    /// A `string` field; proto3 omits empty strings unless `always` (a oneof member).
    @inlinable
    public mutating func writeStringField(_ field: UInt32, _ value: String, always: Bool = false) {
        guard always || !value.isEmpty else { return }
        var value = value
        value.withUTF8 { utf8 in
            writeTag(field, .lengthDelimited)
            writeVarint(UInt64(utf8.count))
            storage.append(contentsOf: utf8)
        }
    }

    /// A packed `repeated` varint field (`uint64`, `int64` as two's complement); empty is omitted.
    @inlinable
    public mutating func writePackedVarintField(_ field: UInt32, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        writeMessageField(field) { writer in
            for value in values { writer.writeVarint(value) }
        }
    }

    /// A nested message field: `body` writes the message's own fields.
    @inlinable
    public mutating func writeMessageField(_ field: UInt32, _ body: (inout ProtobufWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        // Reserve one length byte, the common case; widen it if the body needs more.
        let lengthOffset = storage.count
        storage.append(0)
        let start = storage.count
        body(&self)
        let length = storage.count - start
        if length < 0x80 {
            storage[lengthOffset] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        var value = UInt64(length)
        while value >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        prefix.append(UInt8(value))
        storage.replaceSubrange(lengthOffset..<start, with: prefix)
    }
}
