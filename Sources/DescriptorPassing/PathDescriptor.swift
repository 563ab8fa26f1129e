import CTandemBPF
import CTandemPaths
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Opens a file by a path that someone else may control without being tricked by it.
/// First an `O_PATH` descriptor, which opens nothing (no device driver's `open`, no
/// wait for a FIFO's writer, no terminal becoming the controlling one, no read
/// permission used); then `status()` (`fstat`) on that descriptor; and only when it
/// shows what the caller expects, the file itself, `reopen`ed through
/// `/proc/self/fd/N`, which is the very inode just checked (`stat` then `open` by path
/// would race with a rename).
package enum PathDescriptor {
    /// `openat2(2)` with `O_PATH` of `path` inside the directory `root` (such as
    /// `/proc/PID/root`). `RESOLVE_IN_ROOT` makes `..` and absolute symbolic links stop
    /// at `root`, as they do for the process whose root it is: a container's
    /// `/lib -> usr/lib` resolves, inside the container, and `/etc/shadow` planted as a
    /// link means the container's. `RESOLVE_NO_MAGICLINKS` refuses `/proc/N/root`,
    /// `/proc/N/fd/M` and the like met on the way (a container's own /proc), which would
    /// jump out. Mount points are crossed: a container's files live on several.
    package static func openInRoot(_ root: String, _ path: String) throws(SystemCallError) -> FileDescriptor {
        let directory = try FileDescriptor.openPath(root, O_DIRECTORY)
        // Relative to the root; RESOLVE_IN_ROOT would scope an absolute path too.
        let relative = String(path.drop { $0 == "/" })
        let flags = UInt64(__O_PATH | O_CLOEXEC)
        let resolve = UInt64(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        // EAGAIN: a rename or mount raced with a scoped lookup; the kernel asks to retry.
        for _ in 0..<4 {
            let fd = tandem_openat2(directory.rawValue, relative, flags, resolve)
            if fd >= 0 { return FileDescriptor(owning: fd) }
            if errno != EAGAIN && errno != EINTR { break }
        }
        throw .last("openat2(RESOLVE_IN_ROOT)", subject: "\(path) in \(root)")
    }
}
