#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the socket calls the aggregator makes.
public enum UnixSocket {
    /// Creates a listening stream socket at `path` with `socket`, `bind`,
    /// `chmod` and `listen`. A stale socket file left by an earlier run is
    /// removed first; any other file at `path` is an error.
    public static func listen(path: String, mode: mode_t = 0o660, backlog: Int32 = 16) throws(SystemCallError) -> Int32 {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemCallError("bind", subject: "\(path) exists and is not a socket", errno: EEXIST)
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket(AF_UNIX)") }
        do throws(SystemCallError) {
            var address = try socketAddress(path)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0 else { throw SystemCallError("bind", subject: path) }
            guard chmod(path, mode) == 0 else { throw SystemCallError("chmod", subject: path) }
            guard Glibc.listen(fd, backlog) == 0 else { throw SystemCallError("listen", subject: path) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Connects a stream socket to `path` with `socket` and `connect`.
    public static func connect(path: String) throws(SystemCallError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket(AF_UNIX)") }
        do throws(SystemCallError) {
            var address = try socketAddress(path)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard connected == 0 else { throw SystemCallError("connect", subject: path) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Accepts one connection with `accept` (then `FD_CLOEXEC`), retrying on `EINTR`.
    public static func accept(_ listener: Int32) throws(SystemCallError) -> Int32 {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return fd
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            throw SystemCallError("accept", subject: "fd \(listener)")
        }
    }

    private static func socketAddress(_ path: String) throws(SystemCallError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw SystemCallError("bind", subject: "socket path longer than \(capacity - 1) bytes: \(path)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}

/// Reads from a descriptor with `read`, retrying on `EINTR`.
public func readSome(_ fd: Int32, into buffer: inout [UInt8]) throws(SystemCallError) -> Int {
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count >= 0 { return count }
        if errno == EINTR { continue }
        throw SystemCallError("read", subject: "fd \(fd)")
    }
}
