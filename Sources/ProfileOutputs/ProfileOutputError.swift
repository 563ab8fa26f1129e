/// Why a profile output could not be produced or written.
public enum ProfileOutputError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A zlib call failed while compressing; `code` is zlib's return value.
    case compressionFailed(call: String, code: Int32)
    /// Writing the output file failed; `errno` is the failing call's error.
    case writeFailed(path: String, call: String, errno: Int32)

    public var description: String {
        switch self {
        case .compressionFailed(let call, let code):
            return "gzip compression failed: \(call) returned \(code) (zlib error); this is a bug or the process is out of memory"
        case .writeFailed(let path, let call, let errno):
            return "cannot write profile output '\(path)': \(call) failed with errno \(errno) (\(errnoDescription(errno))); check that the directory exists and is writable"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

private func errnoDescription(_ code: Int32) -> String {
    String(cString: strerror(code))
}
