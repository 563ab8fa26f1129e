import CTandemBPF
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Opens a file by a path that someone else may control without being tricked by it.
/// First an `O_PATH` descriptor, which opens nothing (no device driver's `open`, no
/// wait for a FIFO's writer, no terminal becoming the controlling one, no read
/// permission used); then `fstat` on that descriptor; and only when it shows what the
/// caller expects, the file itself, reopened through `/proc/self/fd/N`, which is the
/// very inode just checked (`stat` then `open` by path would race with a rename).
///
/// `O_PATH` is spelled `__O_PATH`: `<fcntl.h>` names it `O_PATH` only under `_GNU_SOURCE`,
/// which Swift's Glibc module is built without (the aggregator's `OpenFile.open` spells it so too).
package enum PathDescriptor {
    /// `openat2(2)` with `O_PATH` of `path` inside the directory `root` (such as
    /// `/proc/PID/root`). `RESOLVE_IN_ROOT` makes `..` and absolute symbolic links stop
    /// at `root`, as they do for the process whose root it is: a container's
    /// `/lib -> usr/lib` resolves, inside the container, and `/etc/shadow` planted as a
    /// link means the container's. `RESOLVE_NO_MAGICLINKS` refuses `/proc/N/root`,
    /// `/proc/N/fd/M` and the like met on the way (a container's own /proc), which would
    /// jump out. Mount points are crossed: a container's files live on several.
    package static func openInRoot(_ root: String, _ path: String) throws(SystemCallError) -> Int32 {
        let directory = open(root, __O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw .last("open", subject: root) }
        defer { close(directory) }
        // Relative to the root; RESOLVE_IN_ROOT would scope an absolute path too.
        let relative = String(path.drop { $0 == "/" })
        let flags = UInt64(__O_PATH | O_CLOEXEC)
        let resolve = UInt64(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        // EAGAIN: a rename or mount raced with a scoped lookup; the kernel asks to retry.
        for _ in 0..<4 {
            let fd = tandem_openat2(directory, relative, flags, resolve)
            if fd >= 0 { return fd }
            if errno != EAGAIN && errno != EINTR { break }
        }
        throw .last("openat2(RESOLVE_IN_ROOT)", subject: "\(path) in \(root)")
    }

    /// `open(2)` with `O_PATH | O_NOFOLLOW`: `path` itself, a symbolic link included.
    package static func openNoFollow(_ path: String) throws(SystemCallError) -> Int32 {
        let fd = open(path, __O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .last("open(O_PATH)", subject: path) }
        return fd
    }

    /// `fstat(2)`.
    package static func status(_ fd: Int32, path: String) throws(SystemCallError) -> stat {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .last("fstat", subject: path) }
        return status
    }

    /// `open("/proc/self/fd/N", flags)`: the file the `O_PATH` descriptor `fd` refers to,
    /// opened for I/O with the usual permission checks.
    package static func reopen(_ fd: Int32, flags: Int32, path: String) throws(SystemCallError) -> Int32 {
        let opened = open("/proc/self/fd/\(fd)", flags)
        guard opened >= 0 else { throw .last("open(/proc/self/fd/\(fd))", subject: path) }
        return opened
    }

    /// What `mode` is, for an error message: "a FIFO", "a character device", ...
    package static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "of unknown type \(String(mode & S_IFMT, radix: 8))"
        }
    }
}
