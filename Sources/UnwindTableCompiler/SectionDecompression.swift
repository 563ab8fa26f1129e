import ELF
import UnwindTableFormat

/// Decompresses the contents of compressed ELF sections for `UnwindTable.compile`.
///
/// The compiler itself stays pure Swift, without C: whoever compiles tables (the
/// aggregator, through zlib) brings the decompression.
public protocol SectionDecompressor {
    /// The decompressed form of `compressed` (a section's bytes after its `Elf64_Chdr`).
    ///
    /// Must not produce more than `outputLimit` bytes: throw `.outputLimitExceeded` as
    /// soon as the data would decompress to more. The caller checks the exact size.
    func decompress(_ compressed: ArraySlice<UInt8>, format: SectionCompression,
                    outputLimit: Int) throws(SectionDecompressionFailure) -> [UInt8]
}

/// Why a `SectionDecompressor` produced nothing.
public enum SectionDecompressionFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// This decompressor does not have the format (e.g. built without zstd).
    case unsupportedFormat(SectionCompression)
    /// The data decompresses to more than the limit it was given.
    case outputLimitExceeded(limit: Int)
    /// The data is not a valid stream of its format; `reason` is the library's message.
    case corrupt(reason: String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let format): "\(format) decompression is not available"
        case .outputLimitExceeded(let limit): "the data decompresses to more than \(limit) bytes"
        case .corrupt(let reason): "corrupt compressed data: \(reason)"
        }
    }
}

extension ELFFile {
    /// `sizeof(Elf64_Chdr)`: `ch_type`, `ch_reserved`, `ch_size`, `ch_addralign`.
    static let compressionHeaderSize = 24
    /// zlib's deflate cannot expand data more than about 1032:1; a `ch_size` above this
    /// ratio (plus slack for tiny sections) is a lie, refused before allocating anything.
    static let zlibMaximumRatio: UInt64 = 1100

    /// The contents of the section whose stored bytes `stored` covers, decompressed first
    /// when it is `SHF_COMPRESSED`: the declared size (`ch_size`) is untrusted, so it is
    /// capped by `limit`, and the data must decompress to exactly that size.
    package static func contents(of stored: ByteCursor, isCompressed: Bool, decompressor: (any SectionDecompressor)?,
                         limit: Int) throws(UnwindTableError) -> ByteCursor {
        guard isCompressed else { return stored }
        let name = stored.section
        var header = stored
        let type = try header.u32()
        try header.skip(4)
        let declaredSize = try header.u64()
        try header.skip(8)
        let format: SectionCompression
        switch type {
        case SectionCompression.zlibType: format = .zlib
        case SectionCompression.zstdType: format = .zstd
        default: throw UnwindTableError(.unsupportedCompression(type: type), section: name, offset: 0)
        }
        guard let decompressor else {
            throw UnwindTableError(.compressedSection, section: name, offset: 0)
        }
        let compressed = stored.bytes[header.position..<header.end]
        guard declaredSize <= UInt64(limit),
              format != .zlib || declaredSize <= UInt64(compressed.count) * zlibMaximumRatio + 4096
        else {
            throw UnwindTableError(.compressedSectionTooLarge(declaredSize: declaredSize, limit: limit), section: name, offset: 8)
        }
        let output: [UInt8]
        do {
            output = try decompressor.decompress(compressed, format: format, outputLimit: Int(declaredSize))
        } catch .outputLimitExceeded {
            throw UnwindTableError(.decompressedSizeMismatch(declaredSize: declaredSize, actualSize: nil),
                                   section: name, offset: compressionHeaderSize)
        } catch {
            throw UnwindTableError(.decompressionFailed(format: format, reason: error.description),
                                   section: name, offset: compressionHeaderSize)
        }
        guard output.count == Int(declaredSize) else {
            throw UnwindTableError(.decompressedSizeMismatch(declaredSize: declaredSize, actualSize: output.count),
                                   section: name, offset: compressionHeaderSize)
        }
        return ByteCursor(bytes: output, start: 0, end: output.count, section: name)
    }
}
