import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole output files so that a reader never sees half of one: the
/// bytes go to a temporary file next to the target, which is then renamed
/// over it.
///
/// A target that exists and is not a regular file is never renamed over: that would put a
/// regular file in place of `/dev/null` (run as root) or of a FIFO a reader waits on.
/// A character device or a FIFO is written in place; anything else is refused.
enum OutputFile {
    static func replaceContents(ofFile path: String, with bytes: [UInt8]) throws(ProfileOutputError) {
        if let type = existingType(of: path), type != .regular, type != .symbolicLink {
            try writeInPlace(path, type: type, bytes)
            return
        }
        let temporaryPath = "\(path).tmp-\(getpid())"
        // open(2): 0644, as an exported profile is not secret to its owner's group.
        let descriptor = try { () throws(ProfileOutputError) in
            do throws(SystemCallError) {
                return try FileDescriptor.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, permissions: 0o644)
            } catch {
                throw .writeFailed(path: path, systemCall: error)
            }
        }()
        do throws(SystemCallError) {
            try descriptor.writeAll(bytes[...])
            try descriptor.close()
        } catch {
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: error)
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: SystemCallError("rename", subject: "\(temporaryPath) to \(path)", errno: code))
        }
    }

    /// What `path` itself is (`lstat`: a symbolic link is replaced, not followed); nil when nothing is there.
    private static func existingType(of path: String) -> FileType? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return FileType(mode: status.st_mode)
    }

    /// Writes into a character device or a FIFO as it is. The open does not wait for a FIFO's
    /// reader (`O_NONBLOCK`: none is an error, ENXIO); the writes then wait for it to read.
    private static func writeInPlace(_ path: String, type: FileType, _ bytes: [UInt8]) throws(ProfileOutputError) {
        guard type == .characterDevice || type == .fifo else {
            throw .notWritable(path: path, type: type)
        }
        do throws(SystemCallError) {
            let descriptor = try FileDescriptor.open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY)
            let flags = fcntl(descriptor.rawValue, F_GETFL)
            guard flags >= 0, fcntl(descriptor.rawValue, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
                throw SystemCallError.last("fcntl(F_SETFL)", subject: path)
            }
            try descriptor.writeAll(bytes[...])
            try descriptor.close()
        } catch {
            throw .writeFailed(path: path, systemCall: error)
        }
    }
}
