import CTandemZlib

/// zlib streams (RFC 1950), as compressed ELF sections (`ELFCOMPRESS_ZLIB`) hold them.
public enum Zlib {
    /// Inflates `input` (one zlib stream; bytes after its end are ignored) with zlib's
    /// `inflate`, producing at most `outputLimit` bytes: the limit is allocated once, so
    /// a caller that does not trust the data passes a bound it can afford.
    public static func decompress(_ input: ArraySlice<UInt8>, outputLimit: Int) throws(DecompressionError) -> [UInt8] {
        guard input.count <= Int(UInt32.max), outputLimit >= 0, outputLimit < Int(UInt32.max) else {
            throw .failed(call: "inflate", code: Z_BUF_ERROR, message: "input or limit above 4 GiB")
        }
        var stream = z_stream()
        let initStatus = tandem_inflate_init(&stream)
        guard initStatus == Z_OK else { throw .failed(call: "inflateInit", code: initStatus, message: nil) }
        defer { inflateEnd(&stream) }

        // One byte past the limit tells a stream that exceeds it from one that fills it.
        var output = [UInt8](repeating: 0, count: outputLimit + 1)
        var input = Array(input)
        let status = stream.finish(input: &input, output: &output) { inflate($0, Z_FINISH) }
        let produced = output.count - Int(stream.avail_out)
        switch status {
        case Z_STREAM_END:
            guard produced <= outputLimit else { throw .outputLimitExceeded(limit: outputLimit) }
            output.removeLast(output.count - produced)
            return output
        case Z_BUF_ERROR where stream.avail_out == 0:
            throw .outputLimitExceeded(limit: outputLimit)
        case Z_BUF_ERROR:
            throw .truncated
        default:
            throw .failed(call: "inflate", code: status, message: stream.msg.map { String(cString: $0) })
        }
    }
}
