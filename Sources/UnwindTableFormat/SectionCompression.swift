/// The format of an `SHF_COMPRESSED` section, from its `Elf64_Chdr.ch_type`.
public enum SectionCompression: Hashable, Sendable, CustomStringConvertible {
    /// `ELFCOMPRESS_ZLIB` (1): a zlib stream (RFC 1950).
    case zlib
    /// `ELFCOMPRESS_ZSTD` (2): a Zstandard frame.
    case zstd

    package static let zlibType: UInt32 = 1
    package static let zstdType: UInt32 = 2

    public var description: String {
        switch self {
        case .zlib: "zlib"
        case .zstd: "zstd"
        }
    }
}
