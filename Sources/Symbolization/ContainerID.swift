/// Finds a container id in a cgroup path, as container runtimes name their cgroups:
/// - Docker: `/system.slice/docker-<id>.scope`, `/docker/<id>`
/// - containerd / CRI: `.../cri-containerd-<id>.scope`, `/kubepods/burstable/pod<uid>/<id>`
/// - CRI-O: `.../crio-<id>.scope`; Podman: `.../libpod-<id>.scope[/container]`
/// where `<id>` is 64 lowercase hex digits. `libpod-conmon-<id>` (the monitor, not the
/// container) is not a container.
/// - systemd-nspawn (and anything systemd-machined registers): `/machine.slice/machine-<name>.scope`
///   and `/machine.slice/systemd-nspawn@<name>.service`, where the id is the machine's name
///   with systemd's `\xNN` escapes undone (`machine-web\x2d1.scope` is `web-1`).
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
            if let machine = machineName(component) { return machine }
        }
        return nil
    }

    /// The machine of a `machine-<name>.scope` or `systemd-nspawn@<name>.service` unit.
    private static func machineName(_ component: Substring) -> String? {
        let escaped: Substring
        if component.hasPrefix("machine-") && component.hasSuffix(".scope") {
            escaped = component.dropFirst("machine-".count).dropLast(".scope".count)
        } else if component.hasPrefix("systemd-nspawn@") && component.hasSuffix(".service") {
            escaped = component.dropFirst("systemd-nspawn@".count).dropLast(".service".count)
        } else {
            return nil
        }
        let name = unescapedUnitName(escaped)
        return name.isEmpty ? nil : name
    }

    /// A unit name part with systemd's `\xNN` escapes (of `-`, `/` and other bytes) undone.
    static func unescapedUnitName(_ escaped: Substring) -> String {
        var bytes: [UInt8] = []
        var rest = escaped.utf8[...]
        while let byte = rest.first {
            if byte == UInt8(ascii: "\\"), rest.count >= 4, rest.dropFirst().first == UInt8(ascii: "x"),
               let value = UInt8(String(decoding: rest.dropFirst(2).prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                rest = rest.dropFirst(4)
            } else {
                bytes.append(byte)
                rest = rest.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isContainerID(_ name: Substring) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
        }
    }
}
