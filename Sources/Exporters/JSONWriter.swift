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

    private mutating func appendQuoted(_ text: String) {
        JSONStringLiteral.append(text, to: &bytes)
    }
}
