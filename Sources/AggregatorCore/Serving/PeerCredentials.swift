#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// The process at the other end of a Unix socket, as the kernel vouches for it.
public struct PeerCredentials: Hashable, Sendable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    /// Layout of `struct ucred` (Glibc hides it behind `_GNU_SOURCE`).
    private struct UCred {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Reads the credentials of `socket`'s peer with `getsockopt(SO_PEERCRED)`.
    public init(socket: Int32) throws(SystemCallError) {
        var credentials = UCred()
        var length = socklen_t(MemoryLayout<UCred>.size)
        guard getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            throw SystemCallError("getsockopt(SO_PEERCRED)", subject: "fd \(socket)")
        }
        self.pid = credentials.pid
        self.uid = credentials.uid
        self.gid = credentials.gid
    }
}
