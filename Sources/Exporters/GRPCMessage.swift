/// gRPC's message framing on HTTP/2 (gRPC over HTTP/2, "Length-Prefixed-Message"): a
/// compressed flag byte, the message length as 4 big-endian bytes, then the message.
enum GRPCMessage {
    /// The 5 bytes before each message.
    static let prefixLength = 5

    struct TooLarge: Error, CustomStringConvertible {
        var length: Int
        var description: String { "a gRPC message of \(length) bytes does not fit its 4-byte length prefix" }
    }

    /// One request body: `message` (already compressed when `compressed`) behind its prefix.
    static func frame(_ message: [UInt8], compressed: Bool) throws(TooLarge) -> [UInt8] {
        guard message.count <= Int(UInt32.max) else { throw TooLarge(length: message.count) }
        let length = UInt32(message.count)
        var framed = [UInt8]()
        framed.reserveCapacity(prefixLength + message.count)
        framed.append(compressed ? 1 : 0)
        framed += [UInt8(length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8),
                   UInt8(truncatingIfNeeded: length)]
        framed += message
        return framed
    }

    /// The first message of a response body, or nil when the body does not hold a whole
    /// one (an empty body: a trailers-only response).
    static func first(in body: [UInt8]) -> (compressed: Bool, message: ArraySlice<UInt8>)? {
        guard body.count >= prefixLength else { return nil }
        let length = body[1...4].reduce(0) { $0 << 8 | Int($1) }
        guard body.count - prefixLength >= length else { return nil }
        return (body[0] & 1 == 1, body[prefixLength..<(prefixLength + length)])
    }
}
