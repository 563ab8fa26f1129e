#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Tees a stream's bytes, unchanged, into a capture file: a capture is exactly
/// the bytes of one stream, so `replay` can process it later.
public final class CaptureWriter {
    public let path: String
    private let fd: Int32

    /// Creates (`open(O_CREAT|O_EXCL)`) the file `path` with mode 0640.
    public init(path: String) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SystemCallError("open", subject: path) }
        self.path = path
        self.fd = fd
    }

    /// A new capture in `directory` named after the time and a connection number.
    public static func create(in directory: String, connection: Int) throws(SystemCallError) -> CaptureWriter {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let name = "tandem-\(now.tv_sec)-\(getpid())-\(connection).tndm"
        return try CaptureWriter(path: directory.hasSuffix("/") ? directory + name : directory + "/" + name)
    }

    /// Appends `bytes` with `write`, retrying short writes and `EINTR`.
    public func write(_ bytes: ArraySlice<UInt8>) throws(SystemCallError) {
        var remaining = bytes
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("write", subject: path)
            }
            remaining = remaining.dropFirst(written)
        }
    }

    deinit {
        close(fd)
    }
}
