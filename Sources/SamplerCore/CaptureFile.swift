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
    static func open(_ path: String) throws(SamplerError) -> Int32 {
        // A file removed between the two steps is created on the second round.
        for _ in 0..<3 {
            let created = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0o640)
            if created >= 0 { return created }
            guard errno == EEXIST else { throw .captureFileUnavailable(path: path, .last("open(O_CREAT)")) }
            let located: Int32
            do {
                located = try PathDescriptor.openNoFollow(path)
            } catch {
                if error.errno == ENOENT { continue }
                throw .captureFileUnavailable(path: path, error)
            }
            defer { close(located) }
            let status: stat
            do { status = try PathDescriptor.status(located, path: path) } catch { throw .captureFileUnavailable(path: path, error) }
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw .captureFileRefused(path: path, reason: "\(PathDescriptor.kind(status.st_mode)), not a regular file")
            }
            guard status.st_uid == geteuid() else {
                throw .captureFileRefused(path: path, reason: "a file of user \(status.st_uid), not of the sampler's user \(geteuid())")
            }
            guard status.st_nlink == 1 else {
                throw .captureFileRefused(path: path, reason: "a file with \(status.st_nlink) hard links (another name would change too)")
            }
            let fd: Int32
            do {
                fd = try PathDescriptor.reopen(located, flags: O_WRONLY | O_CLOEXEC | O_NOCTTY, path: path)
            } catch {
                throw .captureFileUnavailable(path: path, error)
            }
            guard ftruncate(fd, 0) == 0 else {
                let error = SystemCallError.last("ftruncate", subject: path)
                close(fd)
                throw .captureFileUnavailable(path: path, error)
            }
            return fd
        }
        throw .captureFileUnavailable(path: path, SystemCallError("open", subject: "created and removed three times over", errno: EAGAIN))
    }
}
