import CTandemZstd

/// Zstandard frames (RFC 8878), as compressed ELF sections (`ELFCOMPRESS_ZSTD`) hold them.
public enum Zstd {
    /// Decompresses `input` (one or more frames) with libzstd's `ZSTD_decompress`,
    /// producing at most `outputLimit` bytes: the limit is allocated once, so a caller
    /// that does not trust the data passes a bound it can afford.
    public static func decompress(_ input: ArraySlice<UInt8>, outputLimit: Int) throws(DecompressionError) -> [UInt8] {
        guard outputLimit >= 0, outputLimit < Int.max else { throw .outputLimitExceeded(limit: outputLimit) }
        // One byte past the limit tells data that exceeds it from data that fills it.
        var output = [UInt8](repeating: 0, count: outputLimit + 1)
        let result = input.withUnsafeBytes { inputBuffer in
            output.withUnsafeMutableBytes { outputBuffer in
                ZSTD_decompress(outputBuffer.baseAddress, outputBuffer.count, inputBuffer.baseAddress, inputBuffer.count)
            }
        }
        if ZSTD_isError(result) != 0 {
            if ZSTD_getErrorCode(result) == ZSTD_error_dstSize_tooSmall { throw .outputLimitExceeded(limit: outputLimit) }
            if ZSTD_getErrorCode(result) == ZSTD_error_srcSize_wrong { throw .truncated }
            throw .failed(call: "ZSTD_decompress", code: Int32(ZSTD_getErrorCode(result).rawValue),
                          message: ZSTD_getErrorName(result).map { String(cString: $0) })
        }
        guard result <= outputLimit else { throw .outputLimitExceeded(limit: outputLimit) }
        output.removeLast(output.count - result)
        return output
    }
}
