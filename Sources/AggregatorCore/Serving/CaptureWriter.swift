#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Tees a stream's bytes, unchanged, into a capture file: a capture is exactly
/// the bytes of one stream, so `replay` can process it later.
public final class CaptureWriter {
    public let path: String
    private let file: FileDescriptor

    /// Creates (`open(O_CREAT|O_EXCL)`) the file `path` with mode 0640.
    public init(path: String) throws(SystemCallError) {
        self.file = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o640)
        self.path = path
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
        do throws(SystemCallError) {
            try file.writeAll(bytes)
        } catch {
            throw SystemCallError(error.call, subject: path, errno: error.errno)
        }
    }
}
