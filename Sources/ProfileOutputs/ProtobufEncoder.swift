/// The few protobuf wire-format primitives the pprof writer needs
/// (https://protobuf.dev/programming-guides/encoding/): varints and
/// length-delimited fields. Fields equal to their default are omitted, as
/// proto3 does.
struct ProtobufEncoder {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0
        case lengthDelimited = 2
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func appendTag(_ field: UInt64, _ wireType: WireType) {
        appendVarint(field << 3 | wireType.rawValue)
    }

    /// A `uint64` field; zero is omitted.
    mutating func uint64(_ field: UInt64, _ value: UInt64) {
        guard value != 0 else { return }
        appendTag(field, .varint)
        appendVarint(value)
    }

    /// An `int64` field (two's complement varint, not zigzag); zero is omitted.
    mutating func int64(_ field: UInt64, _ value: Int64) {
        uint64(field, UInt64(bitPattern: value))
    }

    /// A `bool` field; false is omitted.
    mutating func bool(_ field: UInt64, _ value: Bool) {
        uint64(field, value ? 1 : 0)
    }

    /// A `string` field, always written (the pprof string table needs its
    /// empty first entry).
    mutating func string(_ field: UInt64, _ value: String) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A packed `repeated uint64`/`int64` field; empty is omitted.
    mutating func packed(_ field: UInt64, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        var body = ProtobufEncoder()
        for value in values { body.appendVarint(value) }
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(body.bytes.count))
        bytes.append(contentsOf: body.bytes)
    }

    /// An embedded message, always written (an empty message still counts as
    /// an element of a repeated field).
    mutating func message(_ field: UInt64, _ build: (inout ProtobufEncoder) -> Void) {
        var body = ProtobufEncoder()
        build(&body)
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(body.bytes.count))
        bytes.append(contentsOf: body.bytes)
    }
}
