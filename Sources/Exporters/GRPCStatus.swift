import Foundation

/// A gRPC status code (grpc/doc/statuscodes.md), with the names the gRPC libraries print.
struct GRPCStatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    var rawValue: Int

    static let ok = Self(rawValue: 0)
    static let cancelled = Self(rawValue: 1)
    static let unknown = Self(rawValue: 2)
    static let invalidArgument = Self(rawValue: 3)
    static let deadlineExceeded = Self(rawValue: 4)
    static let notFound = Self(rawValue: 5)
    static let alreadyExists = Self(rawValue: 6)
    static let permissionDenied = Self(rawValue: 7)
    static let resourceExhausted = Self(rawValue: 8)
    static let failedPrecondition = Self(rawValue: 9)
    static let aborted = Self(rawValue: 10)
    static let outOfRange = Self(rawValue: 11)
    static let unimplemented = Self(rawValue: 12)
    static let `internal` = Self(rawValue: 13)
    static let unavailable = Self(rawValue: 14)
    static let dataLoss = Self(rawValue: 15)
    static let unauthenticated = Self(rawValue: 16)

    private static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    var description: String {
        Self.names.indices.contains(rawValue) ? Self.names[rawValue] : "status \(rawValue)"
    }

    /// The codes OTLP/gRPC says a client retries (the OTLP specification's table of
    /// retryable codes). `RESOURCE_EXHAUSTED` is retried only when the server says recovery
    /// is possible by sending a `RetryInfo`, which ``GRPCStatus/isRetryable`` checks.
    fileprivate var isRetryableWithoutRetryInfo: Bool {
        [.cancelled, .deadlineExceeded, .aborted, .outOfRange, .unavailable, .dataLoss].contains(self)
    }
}

/// The status that ends a gRPC call, read from the response's trailers (or, for a
/// trailers-only response, its headers).
struct GRPCStatus: Hashable, Sendable, CustomStringConvertible {
    var code: GRPCStatusCode
    /// `grpc-message`, percent-decoded.
    var message: String
    /// The delay of a `google.rpc.RetryInfo` in `grpc-status-details-bin`, if the server sent one.
    var retryDelay: Duration?

    /// The status of a response; nil when neither its trailers nor its headers carry a
    /// `grpc-status` that is a number.
    init?(_ response: HTTPResponse) {
        let fields = response.trailers["grpc-status"] != nil ? response.trailers : response.headers
        guard let text = fields["grpc-status"], let number = Int(text), number >= 0 else { return nil }
        code = GRPCStatusCode(rawValue: number)
        // Kept short for the log, as the HTTP exporters keep a refused body's summary.
        let decoded = fields["grpc-message"].map(Self.percentDecoded) ?? ""
        message = decoded.count > 512 ? String(decoded.prefix(512)) + "…" : decoded
        retryDelay = fields["grpc-status-details-bin"].flatMap(Self.retryDelay(statusDetails:))
    }

    init(code: GRPCStatusCode, message: String = "", retryDelay: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryDelay = retryDelay
    }

    var isRetryable: Bool {
        code.isRetryableWithoutRetryInfo || (code == .resourceExhausted && retryDelay != nil)
    }

    var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    /// `grpc-message` is percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"). A malformed
    /// escape is kept as it is rather than losing the message.
    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
               let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static let retryInfoTypeURL = "type.googleapis.com/google.rpc.RetryInfo"

    /// The `retry_delay` of the first `google.rpc.RetryInfo` among the details of a
    /// `google.rpc.Status` sent base64-encoded (padding optional) in `grpc-status-details-bin`.
    static func retryDelay(statusDetails base64: String) -> Duration? {
        var text = base64.trimmingCharacters(in: .whitespaces)
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text) else { return nil }
        // google.rpc.Status { details = 3 (repeated google.protobuf.Any { type_url = 1, value = 2 }) }
        var status = ProtobufReader([UInt8](data))
        while let (field, value) = status.nextField() {
            guard field == 3, case .bytes(let any) = value else { continue }
            let anyReader = ProtobufReader(any)
            guard let typeURL = anyReader.lengthDelimitedField(1),
                  String(decoding: typeURL, as: UTF8.self) == retryInfoTypeURL else { continue }
            // RetryInfo { retry_delay = 1 (google.protobuf.Duration { seconds = 1, nanos = 2 }) }
            guard let info = anyReader.lengthDelimitedField(2),
                  let delay = ProtobufReader(info).lengthDelimitedField(1) else { return nil }
            var reader = ProtobufReader(delay)
            var seconds: Int64 = 0
            var nanos: Int64 = 0
            while let (field, value) = reader.nextField() {
                switch (field, value) {
                case (1, .varint(let number)): seconds = Int64(bitPattern: number)
                case (2, .varint(let number)): nanos = Int64(Int32(truncatingIfNeeded: number))
                default: continue
                }
            }
            guard seconds >= 0, nanos >= 0, seconds < 1 << 32 else { return nil }
            return .seconds(seconds) + .nanoseconds(nanos)
        }
        return nil
    }
}
