/// A protobuf message read field by field, for checking what PprofWriter encodes
/// where `go tool pprof` is not installed. Only the wire types pprof uses.
struct ProtobufFields {
    enum Value {
        case varint(UInt64)
        case bytes([UInt8])
    }

    struct Malformed: Error {}

    private(set) var fields: [(number: UInt64, value: Value)] = []

    init(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let tag = try Self.varint(bytes, &offset)
            switch tag & 7 {
            case 0:
                fields.append((tag >> 3, .varint(try Self.varint(bytes, &offset))))
            case 2:
                let length = Int(try Self.varint(bytes, &offset))
                guard length <= bytes.count - offset else { throw Malformed() }
                fields.append((tag >> 3, .bytes(Array(bytes[offset..<offset + length]))))
                offset += length
            default:
                throw Malformed()
            }
        }
    }

    private static func varint(_ bytes: [UInt8], _ offset: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw Malformed() }
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// The last varint of field `number`, 0 when absent (proto3's default).
    func uint(_ number: UInt64) -> UInt64 {
        for field in fields.reversed() where field.number == number {
            if case .varint(let value) = field.value { return value }
        }
        return 0
    }

    /// Every length-delimited value of field `number`, in order.
    func bytes(_ number: UInt64) -> [[UInt8]] {
        fields.compactMap { field in
            guard field.number == number, case .bytes(let bytes) = field.value else { return nil }
            return bytes
        }
    }

    /// Every embedded message of field `number`, in order.
    func messages(_ number: UInt64) throws -> [ProtobufFields] {
        try bytes(number).map { try ProtobufFields($0) }
    }

    /// Field `number` as packed varints (or repeated unpacked ones).
    func packed(_ number: UInt64) throws -> [UInt64] {
        var values: [UInt64] = []
        for field in fields where field.number == number {
            switch field.value {
            case .varint(let value):
                values.append(value)
            case .bytes(let bytes):
                var offset = 0
                while offset < bytes.count { values.append(try Self.varint(bytes, &offset)) }
            }
        }
        return values
    }
}
