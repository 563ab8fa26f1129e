/// Why a copy of a CPython object from a code record could not be decoded. The copies
/// come from another process's memory through the sampler: any of them may be garbage,
/// so each inconsistency is one of these, never a trap.
public enum CPythonObjectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The copy ends before the field at `offset` (of `size` bytes) that decoding needs.
    case truncatedHeader(object: String, offset: Int, size: Int, copied: Int)
    /// A `str` that is not compact (a legacy string: names and file names never are).
    case notCompact(state: UInt32)
    /// A `str` kind other than 1, 2 or 4, or an ASCII `str` whose kind is not 1.
    case badKind(state: UInt32)
    /// A length (or size) below zero, or larger than any name or table the walker copies could claim.
    case badLength(object: String, length: Int64)
    /// An ASCII `str` holding a byte above 0x7f.
    case nonASCIIByte(offset: Int)
    /// The version has no such field in its layout (a code record decoded with the wrong layout).
    case absentField(String)

    public var description: String {
        switch self {
        case .truncatedHeader(let object, let offset, let size, let copied):
            return "\(object): \(copied) bytes copied, the field at \(offset) needs \(size) more"
        case .notCompact(let state): return "str is not compact (state 0x\(String(state, radix: 16)))"
        case .badKind(let state): return "str has an invalid kind (state 0x\(String(state, radix: 16)))"
        case .badLength(let object, let length): return "\(object) claims the length \(length)"
        case .nonASCIIByte(let offset): return "ASCII str has a byte above 0x7f at \(offset)"
        case .absentField(let name): return "the layout has no \(name)"
        }
    }
}
