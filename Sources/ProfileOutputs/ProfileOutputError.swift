import SystemCalls

/// Why a profile output could not be produced or written.
public enum ProfileOutputError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A zlib call failed while compressing; `code` is zlib's return value (not an errno).
    case compressionFailed(call: String, code: Int32)
    /// Writing the output file `path` failed in `systemCall` (whose subject is the
    /// file the call was made on: the temporary file beside `path`, or `path` itself).
    case writeFailed(path: String, systemCall: SystemCallError)
    /// `path` names something an output cannot go to (a directory, a block device, a socket).
    case notWritable(path: String, type: FileType)

    public var description: String {
        switch self {
        case .compressionFailed(let call, let code):
            return "gzip compression failed: \(call) returned \(code) (zlib error); this is a bug or the process is out of memory"
        case .writeFailed(let path, let systemCall):
            return "cannot write profile output '\(path)': \(systemCall); check that the directory exists and is writable"
        case .notWritable(let path, let type):
            return "cannot write profile output '\(path)': it is \(type); name a regular file (or /dev/null to discard it)"
        }
    }
}
