#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation (`sd_listen_fds(3)`): the listening sockets a
/// service manager passed in, starting at descriptor 3.
public enum SocketActivation {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: Int32 = 3

    /// The passed descriptors, if `LISTEN_PID` names this process and
    /// `LISTEN_FDS` is a positive count; empty otherwise.
    public static func listeningDescriptors(environment: [String: String]) -> [Int32] {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int32.init), count > 0 else { return [] }
        let descriptors = Array(firstDescriptor..<firstDescriptor + count)
        for fd in descriptors {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return descriptors
    }
}
