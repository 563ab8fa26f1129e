import CTandemZlib

/// Why a zlib stream could not be inflated.
public enum InflateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stream holds more than the `outputLimit` bytes it was allowed.
    case outputLimitExceeded(limit: Int)
    /// The input ends before the stream's end marker.
    case truncated
    /// zlib refused the data or failed: the call, its status and its message (`z_stream.msg`).
    case failed(call: String, code: Int32, message: String?)

    public var description: String {
        switch self {
        case .outputLimitExceeded(let limit): "the stream inflates to more than \(limit) bytes"
        case .truncated: "the stream ends before its end marker"
        case .failed(let call, let code, let message): "\(call) failed with status \(code)" + (message.map { ": \($0)" } ?? "")
        }
    }
}

/// zlib streams (RFC 1950), as compressed ELF sections (`ELFCOMPRESS_ZLIB`) hold them.
public enum Zlib {
    /// Inflates `input` (one zlib stream; bytes after its end are ignored) with zlib's
    /// `inflate`, producing at most `outputLimit` bytes: the limit is allocated once, so
    /// a caller that does not trust the data passes a bound it can afford.
    public static func decompress(_ input: ArraySlice<UInt8>, outputLimit: Int) throws(InflateError) -> [UInt8] {
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
