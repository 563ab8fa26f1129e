import Configuration
import Foundation
import Testing
import Yams

/// packaging/kubernetes/tandem.yaml, each document as a dictionary.
private func manifestDocuments() throws -> [[String: Any]] {
    let text = try String(contentsOf: packagingFile("kubernetes/tandem.yaml"), encoding: .utf8)
    return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
}

private func document(kind: String) throws -> [String: Any] {
    try #require(try manifestDocuments().first { $0["kind"] as? String == kind }, "no \(kind) in the manifest")
}

/// `value[path[0]][path[1]]...` through dictionaries and (by integer key) arrays.
private func lookup(_ value: Any?, _ path: Any...) -> Any? {
    var current = value
    for key in path {
        if let name = key as? String { current = (current as? [String: Any])?[name] }
        else if let index = key as? Int, let array = current as? [Any], array.indices.contains(index) { current = array[index] }
        else { return nil }
    }
    return current
}

private func container(_ name: String) throws -> [String: Any] {
    let daemonSet = try document(kind: "DaemonSet")
    let containers = try #require(lookup(daemonSet, "spec", "template", "spec", "containers") as? [[String: Any]])
    return try #require(containers.first { $0["name"] as? String == name }, "no \(name) container")
}

/// Every value stored under `key` anywhere in `value`.
private func allValues(of key: String, in value: Any) -> [Any] {
    if let dictionary = value as? [String: Any] {
        return dictionary.flatMap { entry in (entry.key == key ? [entry.value] : []) + allValues(of: key, in: entry.value) }
    }
    if let array = value as? [Any] { return array.flatMap { allValues(of: key, in: $0) } }
    return []
}

@Suite("Kubernetes manifest")
struct KubernetesManifestTests {
    @Test("passes kubernetes-validate --strict, offline, against the Kubernetes 1.37 schemas")
    func schemaValid() throws {
        let validator = try requireTool("kubernetes-validate", package: "python3 -m pip install kubernetes-validate")
        let result = try run(validator, ["--strict", packagingFile("kubernetes/tandem.yaml").path])
        #expect(result.status == 0, "kubernetes-validate: \(result.combined)")
        for kind in ["namespace/tandem", "serviceaccount/tandem", "configmap/tandem-config", "daemonset/tandem"] {
            #expect(result.combined.contains("passed for resource \(kind)"), "\(kind) was not validated: \(result.combined)")
        }
    }

    @Test("the validator rejects a wrongly typed and an unknown field (so that passing means something)")
    func validatorRejects() throws {
        let validator = try requireTool("kubernetes-validate", package: "python3 -m pip install kubernetes-validate")
        let directory = try TemporaryDirectory(prefix: "tandem-k8s")
        defer { directory.cleanup() }
        let original = try String(contentsOf: packagingFile("kubernetes/tandem.yaml"), encoding: .utf8)
        for (label, broken) in [
            ("wrong type", original.replacingOccurrences(of: "readOnlyRootFilesystem: true", with: "readOnlyRootFilesystem: \"yes\"")),
            ("unknown field", original.replacingOccurrences(of: "hostIPC: false", with: "hostIPC: false\n      hostPIDs: true")),
        ] {
            #expect(broken != original)
            let file = directory.url.appendingPathComponent("broken.yaml")
            try broken.write(to: file, atomically: true, encoding: .utf8)
            let result = try run(validator, ["--strict", file.path])
            #expect(result.status != 0, "\(label): kubernetes-validate accepted it: \(result.combined)")
        }
    }

    @Test("nothing is privileged and every container drops ALL capabilities")
    func noPrivilegedContainer() throws {
        let daemonSet = try document(kind: "DaemonSet")
        #expect(allValues(of: "privileged", in: daemonSet).allSatisfy { ($0 as? Bool) == false })
        let containers = try #require(lookup(daemonSet, "spec", "template", "spec", "containers") as? [[String: Any]])
        #expect(containers.count == 2)
        for container in containers {
            let name = container["name"] as? String ?? "?"
            #expect(lookup(container, "securityContext", "capabilities", "drop") as? [String] == ["ALL"], "\(name)")
            #expect(lookup(container, "securityContext", "allowPrivilegeEscalation") as? Bool == false, "\(name)")
            #expect(lookup(container, "securityContext", "readOnlyRootFilesystem") as? Bool == true, "\(name)")
            #expect(lookup(container, "securityContext", "seccompProfile", "type") as? String == "RuntimeDefault", "\(name)")
        }
        #expect(lookup(daemonSet, "spec", "template", "spec", "hostNetwork") as? Bool == false)
        #expect(lookup(daemonSet, "spec", "template", "spec", "automountServiceAccountToken") as? Bool == false)
        // No host path at all: /proc is the host's through hostPID, nothing else is needed.
        #expect(allValues(of: "hostPath", in: daemonSet).isEmpty)
    }

    @Test("the sampler shares the host PID namespace and adds back exactly the documented capabilities")
    func sampler() throws {
        let daemonSet = try document(kind: "DaemonSet")
        #expect(lookup(daemonSet, "spec", "template", "spec", "hostPID") as? Bool == true)
        let sampler = try container("sampler")
        let added = Set((lookup(sampler, "securityContext", "capabilities", "add") as? [String] ?? []).map { "CAP_" + $0 })
        #expect(added == samplerGrantedCapabilities)
        #expect(lookup(sampler, "securityContext", "runAsUser") as? Int == 0)
        #expect((lookup(sampler, "command") as? [String])?.first == "/usr/bin/tandem-sampler")
    }

    @Test("the aggregator is non-root with nothing added")
    func aggregator() throws {
        let aggregator = try container("aggregator")
        #expect(lookup(aggregator, "securityContext", "runAsNonRoot") as? Bool == true)
        #expect((lookup(aggregator, "securityContext", "runAsUser") as? Int ?? 0) > 0)
        #expect(lookup(aggregator, "securityContext", "capabilities", "add") == nil)
        #expect(Array((lookup(aggregator, "command") as? [String] ?? []).prefix(2)) == ["/usr/bin/tandem-aggregator", "serve"])
    }

    @Test("the two containers share only the socket emptyDir and the read-only ConfigMap")
    func sharedVolumes() throws {
        let daemonSet = try document(kind: "DaemonSet")
        let volumes = try #require(lookup(daemonSet, "spec", "template", "spec", "volumes") as? [[String: Any]])
        let socketVolume = try #require(volumes.first { $0["name"] as? String == "socket" })
        #expect(socketVolume["emptyDir"] != nil)
        func mounts(_ name: String) throws -> [String: (path: String, readOnly: Bool)] {
            let list = try container(name)["volumeMounts"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: list.map {
                ($0["name"] as? String ?? "", ($0["mountPath"] as? String ?? "", $0["readOnly"] as? Bool ?? false))
            })
        }
        let sampler = try mounts("sampler")
        let aggregator = try mounts("aggregator")
        #expect(Set(sampler.keys).intersection(aggregator.keys) == ["socket", "config"])
        #expect(sampler["socket"]?.path == "/run/tandem" && aggregator["socket"]?.path == "/run/tandem")
        #expect(sampler["config"]?.readOnly == true && aggregator["config"]?.readOnly == true)
        // The aggregator creates the socket 10001:10001 0660; the sampler reaches it as a
        // supplementary member of that group.
        let groups = lookup(daemonSet, "spec", "template", "spec", "securityContext", "supplementalGroups") as? [Int]
        let aggregatorGroup = lookup(try container("aggregator"), "securityContext", "runAsGroup") as? Int
        #expect(aggregatorGroup != nil && groups?.contains(aggregatorGroup!) == true)
    }

    @Test("the ConfigMap's configuration is valid and points at the shared socket")
    func configMap() throws {
        let configMap = try document(kind: "ConfigMap")
        let yaml = try #require(lookup(configMap, "data", "tandem.yml") as? String)
        let configuration = try CollectorConfiguration(yaml: yaml)
        #expect(configuration.profilingReceiver.endpoint == "/run/tandem/tandem.sock")
        #expect(configuration.profilingReceiver.allowedUIDs == [0])
    }
}

@Suite("Default configuration")
struct DefaultConfigurationTests {
    @Test("packaging/tandem.yml loads, with the packaged socket path and root as the only peer")
    func loads() throws {
        let yaml = try String(contentsOf: packagingFile("tandem.yml"), encoding: .utf8)
        let configuration = try CollectorConfiguration(yaml: yaml)
        #expect(configuration.profilingReceiver.endpoint == "/run/tandem/tandem.sock")
        #expect(configuration.profilingReceiver.allowedUIDs == [0])
        #expect(configuration.profilingReceiver.samplesPerSecond == 19)
        #expect(configuration.undefinedButReferencedExporters.isEmpty)
        #expect(configuration.exporters.map(\.id.type) == ["file"])
    }

    @Test("tandem-aggregator validate accepts the packaged and the ConfigMap configuration")
    func aggregatorValidates() throws {
        let aggregator = try builtProduct("tandem-aggregator")
        let directory = try TemporaryDirectory(prefix: "tandem-validate")
        defer { directory.cleanup() }
        let configMap = try #require(lookup(try document(kind: "ConfigMap"), "data", "tandem.yml") as? String)
        let packaged = try String(contentsOf: packagingFile("tandem.yml"), encoding: .utf8)
        for (name, text) in [("packaged.yml", packaged), ("configmap.yml", configMap)] {
            // The file exporter opens its path when it is created: point it into the test's directory.
            let file = directory.url.appendingPathComponent(name)
            try text.replacingOccurrences(of: "/var/lib/tandem/", with: directory.path + "/")
                .write(to: file, atomically: true, encoding: .utf8)
            let result = try run(aggregator, ["validate", "--config", file.path])
            #expect(result.status == 0, "\(name): \(result.combined)")
            #expect(result.standardOutput.contains("valid"), "\(name): \(result.combined)")
            #expect(!result.combined.contains("warning"), "\(name): \(result.combined)")
        }
    }
}
