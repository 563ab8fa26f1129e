/// The text of a HotSpot `Symbol` copied from memory: its `_length` (u2) and that many
/// bytes of `_body`, in the JVM's modified UTF-8 (NUL as C0 80, characters above U+FFFF as
/// two 3-byte surrogates).
public enum HotSpotSymbolText {
    /// Why a Symbol copy could not be decoded.
    public enum Failure: Error, Hashable, Sendable {
        /// The copy ends before the length field.
        case noLength(copied: Int)
        /// The copy holds fewer body bytes than the length says (the walker's bound cut it).
        case cut(length: Int, copied: Int)
    }

    /// Decodes a copy that starts at the Symbol's first byte. Ill-formed sequences become U+FFFD.
    public static func decode(_ copy: ArraySlice<UInt8>, lengthOffset: Int,
                              bodyOffset: Int) -> Result<String, Failure> {
        let base = copy.startIndex
        guard copy.count >= lengthOffset + 2 else { return .failure(.noLength(copied: copy.count)) }
        let length = Int(copy[base + lengthOffset]) | Int(copy[base + lengthOffset + 1]) << 8
        guard copy.count - bodyOffset >= length else {
            return .failure(.cut(length: length, copied: max(0, copy.count - bodyOffset)))
        }
        return .success(modifiedUTF8(copy[(base + bodyOffset)..<(base + bodyOffset + length)]))
    }

    /// Modified UTF-8 to a String: decoded as CESU-8 into UTF-16 units (which takes C0 80 and
    /// surrogate pairs as the JVM writes them), then to a String.
    static func modifiedUTF8(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        func continuation(_ offset: Int) -> UInt16? {
            let position = index + offset
            guard position < bytes.endIndex, bytes[position] & 0xc0 == 0x80 else { return nil }
            return UInt16(bytes[position] & 0x3f)
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte < 0x80 {
                units.append(UInt16(byte))
                index += 1
            } else if byte & 0xe0 == 0xc0, let second = continuation(1) {
                units.append(UInt16(byte & 0x1f) << 6 | second)
                index += 2
            } else if byte & 0xf0 == 0xe0, let second = continuation(1), let third = continuation(2) {
                units.append(UInt16(byte & 0x0f) << 12 | second << 6 | third)
                index += 3
            } else {
                units.append(0xfffd)
                index += 1
            }
        }
        return String(decoding: units, as: UTF16.self)
    }
}
