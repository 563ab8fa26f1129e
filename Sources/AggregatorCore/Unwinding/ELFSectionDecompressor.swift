import Compression
import UnwindTables

/// Decompresses `SHF_COMPRESSED` sections (`.debug_frame`) for the unwind-table compiler,
/// which has no C of its own: zlib through the `Compression` module.
public struct ELFSectionDecompressor: SectionDecompressor, Sendable {
    public init() {}

    public func decompress(_ compressed: ArraySlice<UInt8>, format: SectionCompression,
                           outputLimit: Int) throws(SectionDecompressionFailure) -> [UInt8] {
        switch format {
        case .zlib:
            do throws(InflateError) {
                return try Zlib.decompress(compressed, outputLimit: outputLimit)
            } catch .outputLimitExceeded(let limit) {
                throw .outputLimitExceeded(limit: limit)
            } catch {
                throw .corrupt(reason: error.description)
            }
        case .zstd:
            throw .unsupportedFormat(.zstd)
        }
    }
}
