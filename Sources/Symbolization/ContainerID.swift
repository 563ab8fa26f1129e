/// Finds a container id in a cgroup path, as container runtimes name their cgroups:
/// - Docker: `/system.slice/docker-<id>.scope`, `/docker/<id>`
/// - containerd / CRI: `.../cri-containerd-<id>.scope`, `/kubepods/burstable/pod<uid>/<id>`
/// - CRI-O: `.../crio-<id>.scope`; Podman: `.../libpod-<id>.scope[/container]`
/// where `<id>` is 64 lowercase hex digits. `libpod-conmon-<id>` (the monitor, not the
/// container) is not a container.
public enum ContainerID {
    private static let prefixes = ["docker-", "cri-containerd-", "crio-", "libpod-", "containerd-", "cri-o-"]

    public static func parse(cgroupPath: String) -> String? {
        var path = Substring(cgroupPath)
        // Accept a whole /proc/PID/cgroup line (`0::/path`).
        if let range = path.firstRange(of: "::") { path = path[range.upperBound...] }
        for component in path.split(separator: "/").reversed() {
            if component.hasPrefix("libpod-conmon-") || component.hasPrefix("crio-conmon-") { return nil }
            var name = component
            if name.hasSuffix(".scope") { name = name.dropLast(6) }
            for prefix in prefixes where name.hasPrefix(prefix) {
                name = name.dropFirst(prefix.count)
                break
            }
            if isContainerID(name) { return String(name) }
        }
        return nil
    }

    private static func isContainerID(_ name: Substring) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
        }
    }
}
