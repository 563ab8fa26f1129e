/// Appends JSON text to a UTF-8 byte buffer.
///
/// The exporters write JSON in one pass without building a tree; this type keeps track
/// of commas so callers only say what comes next.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Per open container: whether it already holds an element (so the next needs a comma).
    private var hasElement: [Bool] = []

    init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() { beginValue(); bytes.append(UInt8(ascii: "{")); hasElement.append(false) }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); hasElement.removeLast() }
    mutating func beginArray() { beginValue(); bytes.append(UInt8(ascii: "[")); hasElement.append(false) }
    mutating func endArray() { bytes.append(UInt8(ascii: "]")); hasElement.removeLast() }

    /// An object key; the next call writes its value.
    mutating func key(_ key: String) {
        beginValue()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows is part of this element: no comma before it.
        pendingValueAfterKey = true
    }

    mutating func string(_ value: String) { beginValue(); appendQuoted(value) }
    mutating func bool(_ value: Bool) { beginValue(); appendRaw(value ? "true" : "false") }
    mutating func number<T: BinaryInteger>(_ value: T) { beginValue(); appendRaw(String(value)) }

    /// Convenience: `"key": "value"`.
    mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    mutating func field<T: BinaryInteger>(_ name: String, _ value: T) { key(name); number(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    private var pendingValueAfterKey = false

    private mutating func beginValue() {
        if pendingValueAfterKey {
            pendingValueAfterKey = false
            return
        }
        guard !hasElement.isEmpty else { return }
        if hasElement[hasElement.count - 1] { bytes.append(UInt8(ascii: ",")) }
        hasElement[hasElement.count - 1] = true
    }

    private mutating func appendRaw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string literal (RFC 8259): quote, backslash and control characters escaped;
    /// everything else as UTF-8.
    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
