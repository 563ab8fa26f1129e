/// Finds the systemd service a process runs under from its cgroup v2 path, the one
/// `service.name` tandem can know without reading the process's environment (which an
/// unprivileged aggregator may not): `/system.slice/nginx.service` is `nginx`.
///
/// - The innermost `.service` component names it; a template instance keeps its
///   instance (`getty@tty1.service` is `getty@tty1`), as `systemctl` shows it.
/// - A user's service manager (`user@1000.service`) is not a service of its own: a
///   process under it is named only by a service inside it (`.../app.slice/foo.service`).
/// - A process in a container is the container's, not the host unit's that started it:
///   no name when a container id is in the path (``ContainerID``).
public enum SystemdServiceName {
    public static func parse(cgroupPath: String) -> String? {
        var path = Substring(cgroupPath)
        // Accept a whole /proc/PID/cgroup line (`0::/path`).
        if let range = path.firstRange(of: "::") { path = path[range.upperBound...] }
        if ContainerID.parse(cgroupPath: String(path)) != nil { return nil }
        for component in path.split(separator: "/").reversed() {
            guard component.hasSuffix(".service") else { continue }
            let name = component.dropLast(".service".count)
            if name.isEmpty || isUserManager(name) { return nil }
            return String(name)
        }
        return nil
    }

    /// `user@UID`: the per-user systemd instance.
    private static func isUserManager(_ name: Substring) -> Bool {
        guard name.hasPrefix("user@") else { return false }
        let uid = name.dropFirst("user@".count)
        return !uid.isEmpty && uid.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
