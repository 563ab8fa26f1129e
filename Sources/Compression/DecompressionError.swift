/// Why compressed data (a zlib stream, zstd frames) could not be decompressed.
public enum DecompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The data holds more than the `outputLimit` bytes it was allowed.
    case outputLimitExceeded(limit: Int)
    /// The input ends before its end marker (a zlib stream's last block, a zstd frame's end).
    case truncated
    /// The library refused the data or failed: the call, its status and its message.
    case failed(call: String, code: Int32, message: String?)

    public var description: String {
        switch self {
        case .outputLimitExceeded(let limit): "the data decompresses to more than \(limit) bytes"
        case .truncated: "the data ends before its end marker"
        case .failed(let call, let code, let message): "\(call) failed with status \(code)" + (message.map { ": \($0)" } ?? "")
        }
    }
}
