import Foundation

/// The `partial_success` of an OTLP `ExportMetricsServiceResponse` or
/// `ExportProfilesServiceResponse`: the receiver took the request but refused some items.
struct OTLPPartialSuccess: Equatable {
    /// What the receiver counts: `rejected_data_points` (metrics) or `rejected_profiles`;
    /// field 1 of `partial_success` either way.
    enum Items: String {
        case dataPoints = "data_points"
        case profiles

        /// The OTLP/JSON name of the count.
        var jsonKey: String { self == .dataPoints ? "rejectedDataPoints" : "rejectedProfiles" }
    }

    var rejected: Int64
    var errorMessage: String

    /// Reads it from a response body (protobuf or JSON, by `contentType`); nil when the
    /// body reports full success or cannot be read.
    init?(body: [UInt8], contentType: String?, items: Items = .dataPoints) {
        if contentType?.lowercased().hasPrefix("application/json") == true {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                  let partial = object["partialSuccess"] as? [String: Any] else { return nil }
            // int64 fields are strings in OTLP/JSON, but accept numbers too.
            let rejected = (partial[items.jsonKey] as? String).flatMap { Int64($0) }
                ?? (partial[items.jsonKey] as? NSNumber)?.int64Value ?? 0
            self.init(rejected: rejected, errorMessage: partial["errorMessage"] as? String ?? "")
        } else {
            // Export*ServiceResponse.partial_success = 1 {
            //   rejected_data_points / rejected_profiles = 1 (int64), error_message = 2 (string) }
            guard let partial = ProtobufReader(body).lengthDelimitedField(1) else { return nil }
            var reader = ProtobufReader(partial)
            var rejected: Int64 = 0
            var message = ""
            while let (field, value) = reader.nextField() {
                switch (field, value) {
                case (1, .varint(let number)): rejected = Int64(bitPattern: number)
                case (2, .bytes(let bytes)): message = String(decoding: bytes, as: UTF8.self)
                default: continue
                }
            }
            self.init(rejected: rejected, errorMessage: message)
        }
        if rejected == 0 && errorMessage.isEmpty { return nil }
    }

    init(rejected: Int64, errorMessage: String) {
        self.rejected = rejected
        self.errorMessage = errorMessage
    }
}

/// Reads protobuf fields, just enough for small response messages. Stops (returns
/// nil) at the first malformed field instead of trapping.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: some Collection<UInt8>) {
        self.bytes = ArraySlice(bytes)
        position = self.bytes.startIndex
    }

    private mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.endIndex, shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    private mutating func readFixed(_ count: Int) -> UInt64? {
        guard bytes.endIndex - position >= count else { return nil }
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
        position += count
        return value
    }

    mutating func nextField() -> (UInt32, Value)? {
        guard position < bytes.endIndex, let key = readVarint(), key >> 3 <= UInt64(UInt32.max) else { return nil }
        let field = UInt32(key >> 3)
        switch key & 7 {
        case 0: return readVarint().map { (field, .varint($0)) }
        case 1: return readFixed(8).map { (field, .fixed64($0)) }
        case 5: return readFixed(4).map { (field, .fixed32(UInt32($0))) }
        case 2:
            guard let length = readVarint(), length <= UInt64(bytes.endIndex - position) else { return nil }
            let start = position
            position += Int(length)
            return (field, .bytes(bytes[start..<position]))
        default: return nil
        }
    }

    /// The bytes of the first length-delimited `field`.
    func lengthDelimitedField(_ wanted: UInt32) -> ArraySlice<UInt8>? {
        var reader = self
        while let (field, value) = reader.nextField() {
            if field == wanted, case .bytes(let bytes) = value { return bytes }
        }
        return nil
    }
}
