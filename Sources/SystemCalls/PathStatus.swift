#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The status of the file a path names, read without opening the file.
public enum PathStatus {
    /// `stat(2)`: follows symbolic links, as `open(2)` does, and opens nothing, so no device
    /// driver's `open` runs and no FIFO waits for a writer. One system call where
    /// `FileDescriptor.openPath(_:)` and `status()` take three (open, fstat, close); for a
    /// file that is then opened, prefer those: they check the very inode that is read.
    public static func of(_ path: String) throws(SystemCallError) -> stat {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .last("stat", subject: path) }
        return status
    }
}
