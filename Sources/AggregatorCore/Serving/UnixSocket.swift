#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Thin wrappers over the socket calls the aggregator makes.
public enum UnixSocket {
    /// Creates a listening stream socket at `path` with `socket`, `bind`,
    /// `chmod` and `listen`. A stale socket file left by an earlier run is
    /// removed first; any other file at `path` is an error.
    public static func listen(path: String, mode: mode_t = 0o660, backlog: Int32 = 16) throws(SystemCallError) -> FileDescriptor {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemCallError("bind", subject: "\(path) exists and is not a socket", errno: EEXIST)
            }
            unlink(path)
        }
        let socket = try streamSocket()
        var address = try socketAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw SystemCallError("bind", subject: path) }
        guard chmod(path, mode) == 0 else { throw SystemCallError("chmod", subject: path) }
        guard Glibc.listen(socket.rawValue, backlog) == 0 else { throw SystemCallError("listen", subject: path) }
        return socket
    }

    /// Connects a stream socket to `path` with `socket` and `connect`.
    public static func connect(path: String) throws(SystemCallError) -> FileDescriptor {
        let socket = try streamSocket()
        var address = try socketAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw SystemCallError("connect", subject: path) }
        return socket
    }

    /// `socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`.
    private static func streamSocket() throws(SystemCallError) -> FileDescriptor {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket(AF_UNIX)") }
        return FileDescriptor(owning: fd)
    }

    /// Accepts one connection with `accept` (then `FD_CLOEXEC`), retrying on `EINTR`.
    public static func accept(_ listener: Int32) throws(SystemCallError) -> FileDescriptor {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return FileDescriptor(owning: fd)
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

/// What one `recvmsg` brought: bytes, and descriptors passed as `SCM_RIGHTS`.
public struct ReceivedChunk: Sendable {
    /// Bytes read into the buffer (0: the peer closed).
    public var count: Int
    /// Descriptors that arrived with these bytes (close-on-exec), in order, owned: closed
    /// when the last reference goes unless a receiver takes them.
    public var descriptors: [FileDescriptorReference]
    /// The kernel had more ancillary data than the buffer held (`MSG_CTRUNC`): the
    /// descriptors that did not fit were closed by the kernel and are lost.
    public var controlTruncated: Bool
}

/// Room for this many descriptors per read: the sampler sends one per record, and a
/// Unix stream socket returns the descriptors of at most one send per `recvmsg`.
let descriptorsPerRead = 16

/// Reads from a Unix socket with `recvmsg(MSG_CMSG_CLOEXEC)`, retrying on `EINTR`,
/// and collects the descriptors of `SCM_RIGHTS` messages. The kernel attaches them to
/// the bytes of the send they came with and ends the read after those bytes, so a
/// descriptor arrives in the same read as the first byte of the record it rode on.
public func receiveSome(_ fd: Int32, into buffer: inout [UInt8]) throws(SystemCallError) -> ReceivedChunk {
    // CMSG_SPACE(n × sizeof(int)): the header, then the payload, each 8-byte aligned.
    let headerSize = cmsgAlign(MemoryLayout<cmsghdr>.size)
    var control = [UInt64](repeating: 0, count: (headerSize + cmsgAlign(descriptorsPerRead * 4)) / 8)
    while true {
        let result = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBytes -> (Int, Int, Int32) in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    let count = recvmsg(fd, &message, Int32(MSG_CMSG_CLOEXEC))
                    return (count, message.msg_controllen, message.msg_flags)
                }
            }
        }
        let (count, controlLength, flags) = result
        if count < 0 {
            if errno == EINTR { continue }
            // A Unix stream socket says ECONNRESET, once every byte the peer sent has been
            // read, when the peer closed with bytes of ours unread (the control records
            // sent as a sampler stops): its side ended as at end of file, and the stream
            // decoder tells whether its stream was whole.
            if errno == ECONNRESET { return ReceivedChunk(count: 0, descriptors: [], controlTruncated: false) }
            throw SystemCallError("recvmsg", subject: "fd \(fd)")
        }
        var descriptors: [FileDescriptorReference] = []
        control.withUnsafeBytes { bytes in
            var offset = 0
            while offset + headerSize <= controlLength {
                let header = bytes.loadUnaligned(fromByteOffset: offset, as: cmsghdr.self)
                let length = Int(header.cmsg_len)
                guard length >= headerSize, offset + length <= controlLength else { break }
                if header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS) {
                    for index in 0..<(length - headerSize) / 4 {
                        let received = bytes.loadUnaligned(fromByteOffset: offset + headerSize + index * 4, as: Int32.self)
                        descriptors.append(FileDescriptorReference(FileDescriptor(owning: received)))
                    }
                }
                offset += cmsgAlign(length)
            }
        }
        return ReceivedChunk(count: count, descriptors: descriptors, controlTruncated: flags & Int32(MSG_CTRUNC) != 0)
    }
}

/// `CMSG_ALIGN`: ancillary headers and payloads are aligned to `size_t`.
private func cmsgAlign(_ length: Int) -> Int {
    (length + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
}
