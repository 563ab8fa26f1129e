/// Why an ELF file could not be read, and where: the file, the structure (`ELF header`,
/// `section header 3`, `.symtab`...) and the byte offset inside it.
///
/// Every malformed, truncated or hostile file ends in one of these, never in a trap:
/// the aggregator reads files that any local user can plant in a process's mappings.
public struct ELFFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The file does not start with `\x7fELF`.
        case notELF
        /// Only little-endian files (ELF32 or ELF64) are read.
        case unsupportedClass(class: UInt8, byteOrder: UInt8)
        /// A header field that cannot be valid (an entry size too small, an index past its table...).
        case malformedHeader(field: String, value: UInt64)
        /// A header, section, segment or table whose bytes lie (partly) outside the file.
        case outOfFileBounds(offset: UInt64, size: UInt64, fileSize: UInt64)
        /// A name's offset (`sh_name`) past the end of its string table.
        case nameOutOfRange(offset: UInt64, tableSize: UInt64)
        /// A name without its terminating NUL before the end of its string table.
        case unterminatedName(offset: UInt64)
        /// A structure larger than the reader accepts for it (refused before reading it).
        case tooLarge(size: UInt64, limit: UInt64)
        /// The source could not give the bytes (`pread` failed, or the file shrank).
        case readFailed(reason: String)
    }

    public var kind: Kind
    /// The file's name (its path), "" for an unnamed image.
    public var file: String
    /// The structure in error: `ELF header`, `section headers`, `section header 3`,
    /// `program headers`, a section name.
    public var place: String
    /// Byte offset, from the start of `place`, of the value in error.
    public var offset: UInt64

    public init(_ kind: Kind, file: String, place: String, offset: UInt64) {
        self.kind = kind
        self.file = file
        self.place = place
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case .notELF: what = "not an ELF file (no \\x7fELF magic)"
        case .unsupportedClass(let elfClass, let order):
            what = "ELF class \(elfClass), byte order \(order) is not supported (only little-endian ELF32 and ELF64 are read)"
        case .malformedHeader(let field, let value): what = "\(field) has the invalid value \(value)"
        case .outOfFileBounds(let offset, let size, let fileSize):
            what = "bytes \(offset)..<\(offset &+ size) lie outside the file (\(fileSize) bytes); the file is truncated or corrupt"
        case .nameOutOfRange(let offset, let size):
            what = "name offset \(offset) is past the end of its string table (\(size) bytes)"
        case .unterminatedName(let offset): what = "the name at offset \(offset) has no terminating NUL"
        case .tooLarge(let size, let limit): what = "\(size) bytes, more than the \(limit) accepted; the file is corrupt"
        case .readFailed(let reason): what = "cannot be read: \(reason)"
        }
        let name = file.isEmpty ? "ELF image" : file
        return "\(name): \(place) at offset 0x\(String(offset, radix: 16)): \(what)"
    }
}
