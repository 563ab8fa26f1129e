import Compression
import UnwindTableCompiler
import UnwindTableFormat

/// Decompresses `SHF_COMPRESSED` sections (`.debug_frame`) for the unwind-table compiler,
/// which has no C of its own: zlib and zstd through the `Compression` module.
public struct ELFSectionDecompressor: SectionDecompressor, Sendable {
    public init() {}

    public func decompress(_ compressed: ArraySlice<UInt8>, format: SectionCompression,
                           outputLimit: Int) throws(SectionDecompressionFailure) -> [UInt8] {
        do throws(DecompressionError) {
            switch format {
            case .zlib: return try Zlib.decompress(compressed, outputLimit: outputLimit)
            case .zstd: return try Zstd.decompress(compressed, outputLimit: outputLimit)
            }
        } catch .outputLimitExceeded(let limit) {
            throw .outputLimitExceeded(limit: limit)
        } catch {
            throw .corrupt(reason: error.description)
        }
    }
}
