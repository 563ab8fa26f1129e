import CPythonLayouts

/// The text of a `str` object copied from its first byte (`PyASCIIObject` header, then the
/// characters), as code records carry names and file names.
///
/// Only compact strings are decoded: code objects' names and file names are interned or
/// created compact; a legacy (non-compact) string's characters are elsewhere in memory,
/// and the copy could not hold them anyway.
public struct CPythonString: Hashable, Sendable {
    /// Longer than any name or path: a larger length is garbage, not a string to wait for.
    public static let maximumLength: Int64 = 1 << 24

    public var text: String
    /// The copy ended before the last character (the walker's bound, or a short read):
    /// `text` holds the characters that were copied.
    public var isCut: Bool

    public init(text: String, isCut: Bool) {
        self.text = text
        self.isCut = isCut
    }

    /// Decodes `copy` with `layout`'s offsets. Characters that are not Unicode scalars
    /// (lone surrogates, which `str` allows) become U+FFFD.
    public init(copy: [UInt8], layout: CPythonLayout) throws(CPythonObjectError) {
        let state = try copy.loadLittleEndian(UInt32.self, at: Int(layout.unicodeState), object: "str")
        let length = try copy.loadLittleEndian(Int64.self, at: Int(layout.unicodeLength), object: "str")
        let kind = Int(state >> 2 & 7)
        let isCompact = state >> 5 & 1 == 1
        let isASCII = state >> 6 & 1 == 1
        guard isCompact else { throw .notCompact(state: state) }
        guard kind == 1 || kind == 2 || kind == 4, !isASCII || kind == 1 else { throw .badKind(state: state) }
        guard length >= 0, length <= Self.maximumLength else { throw .badLength(object: "str", length: length) }

        let start = Int(isASCII ? layout.unicodeASCIIData : layout.unicodeCompactData)
        let available = copy.count > start ? (copy.count - start) / kind : 0
        let present = Swift.min(Int(length), available)
        var scalars = String.UnicodeScalarView()
        scalars.reserveCapacity(present)
        for index in 0..<present {
            let at = start + index * kind
            let value: UInt32
            switch kind {
            case 1:
                value = UInt32(copy[at])
                if isASCII, value > 0x7F { throw .nonASCIIByte(offset: at) }
            case 2: value = UInt32(try copy.loadLittleEndian(UInt16.self, at: at, object: "str"))
            default: value = try copy.loadLittleEndian(UInt32.self, at: at, object: "str")
            }
            scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
        }
        self.init(text: String(scalars), isCut: present < Int(length))
    }
}
