/// Finds a Kubernetes pod's UID in a cgroup path, as the kubelet names pod cgroups:
/// - systemd driver: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice`,
///   the UID's dashes written as underscores;
/// - cgroupfs driver: `/kubepods/burstable/pod<uid>/<container id>`.
///
/// `<uid>` is a UUID (8-4-4-4-12 hex digits); it is returned with dashes, lowercase.
public enum KubernetesPodUID {
    public static func parse(cgroupPath: String) -> String? {
        guard cgroupPath.contains("kubepods") else { return nil }
        for component in cgroupPath.split(separator: "/").reversed() {
            var name = component
            if name.hasSuffix(".slice") { name = name.dropLast(".slice".count) }
            guard let range = name.ranges(of: "pod").last else { continue }
            let uid = String(name[range.upperBound...].map { $0 == "_" ? "-" : $0 }).lowercased()
            if isUUID(uid) { return uid }
        }
        return nil
    }

    private static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { group in
            group.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
        }
    }
}
