import V8Layouts

/// A V8 string's characters as the walker copies them: a sequential string's header and
/// characters, from the object's first byte, with the instance type its map gave. Cons and
/// sliced strings are not flattened here (the walker follows a thin string to its target).
public enum V8String {
    /// The text of a sequential string of `instanceType` whose copy is `bytes`; nil when the
    /// type is no sequential string or the copy is shorter than its header. A copy cut at
    /// its bound gives the characters it holds.
    public static func decode(instanceType: UInt16, bytes: [UInt8], layout: V8Layout) -> String? {
        guard instanceType < layout.firstNonstringType,
              instanceType & layout.stringRepresentationMask == layout.seqStringTag
        else { return nil }
        let header = Int(layout.seqStringChars)
        let lengthOffset = Int(layout.stringLength)
        guard bytes.count >= header, lengthOffset + 4 <= header else { return nil }
        let length = Int(Int32(bitPattern: UInt32(bytes[lengthOffset]) | UInt32(bytes[lengthOffset + 1]) << 8
            | UInt32(bytes[lengthOffset + 2]) << 16 | UInt32(bytes[lengthOffset + 3]) << 24))
        guard length >= 0 else { return nil }
        let oneByte = instanceType & layout.stringEncodingMask == layout.oneByteStringTag
        let available = bytes.count - header
        if oneByte {
            let characters = bytes[header..<header + min(length, available)]
            return String(decoding: characters.map { UInt16($0) }, as: UTF16.self)
        }
        let units = min(length, available / 2)
        var text: [UInt16] = []
        text.reserveCapacity(units)
        for unit in 0..<units {
            text.append(UInt16(bytes[header + 2 * unit]) | UInt16(bytes[header + 2 * unit + 1]) << 8)
        }
        return String(decoding: text, as: UTF16.self)
    }
}
