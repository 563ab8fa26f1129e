import Foundation
import Testing
import WireFormat

extension SamplerLiveTests {
/// A process in a container made with unshare(1) inside a cgroup named by a 64-hex id, as
/// runtimes name theirs: its metrics and profiles carry that id as `container.id`.
@Suite("container identity on the live kernel (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF, makes cgroups"))
struct ContainerIdentityLiveTests {
    /// The cgroup v2 hierarchy: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one.
    static func unifiedHierarchy() throws -> String {
        for candidate in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        where FileManager.default.fileExists(atPath: candidate + "/cgroup.procs")
            && FileManager.default.fileExists(atPath: candidate + "/cgroup.controllers") {
            return candidate
        }
        throw TestFailure.setup("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
    }

    @Test("a process in an unshare-made container shows the container's id in its metrics")
    func unshareContainer() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let spin = try Workload.build("spin", in: scratch)
        let id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let parent = try Self.unifiedHierarchy() + "/tandem-test-\(getpid())"
        let container = parent + "/" + id
        try FileManager.default.createDirectory(atPath: container, withIntermediateDirectories: true)
        defer {
            rmdir(container)
            rmdir(parent)
        }
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            // Join the cgroup, then a new pid and mount namespace, as a container runtime would.
            let workload = try Workload.start("/bin/sh", ["-c", "echo $$ > \(container)/cgroup.procs && exec unshare --pid --fork --mount-proc \(spin) 1.5"])
            workload.waitUntilExit()
            #expect(workload.terminationStatus == 0)
        }
        let process = try #require(records.processRecords.last { $0.executablePath == spin })
        #expect(process.cgroupPath.hasSuffix("/" + id), "cgroup path \(process.cgroupPath)")
        let capturePath = scratch.appendingPathComponent("capture-99.tandem").path
        let metrics = scratch.appendingPathComponent("metrics.jsonl").path
        try runToCompletion(aggregatorBinaryPath, ["replay", "--metrics-out", metrics, "--log-level", "error", capturePath])
        var containers: Set<String> = []
        for line in try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n") {
            let request = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            for resource in request["resourceMetrics"] as? [[String: Any]] ?? [] {
                let attributes = (resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
                func value(_ key: String) -> String? {
                    (attributes.first { $0["key"] as? String == key }?["value"] as? [String: Any])?["stringValue"] as? String
                }
                if value("process.executable.path") == spin, let container = value("container.id") { containers.insert(container) }
            }
        }
        #expect(containers == [id])
    }
}
}
