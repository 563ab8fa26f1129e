import DescriptorPassing
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Opens the `--output` capture file for writing. A capture is a regular file that the
/// sampler creates, or replaces when it is already one of its own user's: the stream
/// holds every process's stacks and the kernel's addresses, and the sampler may run as
/// root, so a link, a FIFO, a device or another user's file planted at the path (in
/// /tmp, say) is refused rather than followed, opened (a device's `open` can act, a
/// FIFO's blocks) or filled.
enum CaptureFile {
    /// `open(O_CREAT | O_EXCL | O_NOFOLLOW)` for a new file; for an existing one,
    /// `open(O_PATH | O_NOFOLLOW)`, `fstat`, and only for a regular file of this user
    /// with one link, a reopen for writing and `ftruncate(0)`.
    static func open(_ path: String) throws(SamplerError) -> FileDescriptor {
        // A file removed between the two steps is created on the second round.
        for _ in 0..<3 {
            do {
                return try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, permissions: 0o640)
            } catch {
                guard error.errno == EEXIST else { throw .captureFileUnavailable(path: path, SystemCallError("open(O_CREAT)", errno: error.errno)) }
            }
            let located: FileDescriptor
            do {
                located = try FileDescriptor.openPath(path, O_NOFOLLOW)
            } catch {
                if error.errno == ENOENT { continue }
                throw .captureFileUnavailable(path: path, error)
            }
            let status: stat
            do { status = try located.status() } catch { throw .captureFileUnavailable(path: path, error) }
            let type = FileType(mode: status.st_mode)
            guard type == .regular else {
                throw .captureFileRefused(path: path, reason: "\(type), not a regular file")
            }
            guard status.st_uid == geteuid() else {
                throw .captureFileRefused(path: path, reason: "a file of user \(status.st_uid), not of the sampler's user \(geteuid())")
            }
            guard status.st_nlink == 1 else {
                throw .captureFileRefused(path: path, reason: "a file with \(status.st_nlink) hard links (another name would change too)")
            }
            let fd: FileDescriptor
            do {
                fd = try located.reopen(O_WRONLY | O_NOCTTY)
            } catch {
                throw .captureFileUnavailable(path: path, error)
            }
            guard ftruncate(fd.rawValue, 0) == 0 else {
                throw .captureFileUnavailable(path: path, .last("ftruncate", subject: path))
            }
            return fd
        }
        throw .captureFileUnavailable(path: path, SystemCallError("open", subject: "created and removed three times over", errno: EAGAIN))
    }
}
