@testable import Exporters
import Configuration
import Foundation
import Profiles
import Testing

/// The `profiling-hosts` documents: their fields, when a host is described again, and a
/// refused or throttled one against the bulk stand-in.
@Suite("elasticsearch profiles exporter: hosts")
struct ElasticsearchProfilesHostsTests {
    static let hostID = "0123456789abcdef0123456789abcdef"

    static func hostItems(_ items: [BulkItem]) -> [BulkItem] { items.filter { $0.index == "profiling-hosts" } }

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    /// The sample batch moved `seconds` later, with `change` applied.
    static func batch(at seconds: UInt64 = 0, _ change: (inout ProfilesBatch) -> Void = { _ in }) -> ProfilesBatch {
        var batch = sampleProfilesBatch()
        batch.endUnixNano += seconds * 1_000_000_000
        batch.startUnixNano += seconds * 1_000_000_000
        change(&batch)
        return batch
    }

    @Test("a host document holds the stream's facts under the template's names, created without _id")
    func documentFields() throws {
        let items = Self.hostItems(UniversalProfilingDocuments(seed: 7).items(for: sampleProfilesBatch()))
        let item = try #require(items.count == 1 ? items.first : nil)
        #expect(try Self.json(item.action) as NSDictionary == ["create": ["_index": "profiling-hosts"]])
        #expect(item.writeOnce == WriteOnceID(kind: .host, id: Self.hostID))
        let expected: [String: Any] = [
            "@timestamp": 1_700_000_000, "ecs.version": "1.12.0", "host.id": Self.hostID,
            "profiling.project.id": "1", "profiling.host.name": "profiles-host",
            "profiling.host.kernel_version": "6.8.0-45-generic", "profiling.host.machine": "x86_64", "host.arch": "amd64",
            "profiling.agent.version": "0.9.0", "profiling.agent.start_time": 1_699_999_000_000,
            "profiling.agent.config.sampling_frequency": 20, "profiling.agent.config.present_cpu_cores": 4,
        ]
        #expect(try Self.json(item.document) as NSDictionary == expected as NSDictionary)
        #expect(HostDocuments.architecture(machine: "aarch64") == "arm64")
        #expect(HostDocuments.architecture(machine: "riscv64") == "riscv64")
    }

    @Test("without a host id (a replay) no host document; unknown facts are left out, not made up")
    func withoutHostID() throws {
        let documents = UniversalProfilingDocuments(seed: 7)
        #expect(Self.hostItems(documents.items(for: Self.batch { $0.hostID = nil })).isEmpty)
        #expect(Self.hostItems(documents.items(for: Self.batch { $0.hostID = "" })).isEmpty)
        let bare = Self.hostItems(documents.items(for: Self.batch { $0.host = SampledHost(); $0.hostName = "" }))
        let fields = try Self.json(try #require(bare.first).document)
        #expect(Set(fields.keys) == ["@timestamp", "ecs.version", "host.id", "profiling.project.id",
                                     "profiling.agent.config.sampling_frequency"])
    }

    @Test("a host is described again after the refresh interval of its samples' time, or when its facts change")
    func refresh() throws {
        let documents = UniversalProfilingDocuments(seed: 7, hostRefreshSeconds: 600)
        func hosts(_ batch: ProfilesBatch) -> [BulkItem] {
            let items = Self.hostItems(documents.items(for: batch))
            for item in items { documents.settled(item, accepted: true) }
            return items
        }
        #expect(hosts(Self.batch(at: 0)).count == 1)
        #expect(hosts(Self.batch(at: 10)).isEmpty)
        #expect(hosts(Self.batch(at: 599)).isEmpty)
        let refreshed = hosts(Self.batch(at: 600))
        #expect(refreshed.count == 1)
        #expect(try Self.json(try #require(refreshed.first).document)["@timestamp"] as? Int == 1_700_000_600)
        // Counted from the last document written, not from the first.
        #expect(hosts(Self.batch(at: 1_100)).isEmpty)
        // Another sampler run, another kernel: at once.
        #expect(hosts(Self.batch(at: 1_101) { $0.host.samplerStartUnixMillis = 1_700_001_000_000 }).count == 1)
        #expect(hosts(Self.batch(at: 1_102) { $0.host.kernelRelease = "6.9.0" }).count == 1)
        #expect(hosts(Self.batch(at: 1_103) { $0.host.kernelRelease = "6.9.0" }).isEmpty)
        // A clock that went back describes the host again rather than never.
        #expect(hosts(Self.batch(at: 5) { $0.host.kernelRelease = "6.9.0" }).count == 1)
        #expect(documents.rememberedCount(.host) == 1)
    }

    @Test("a host document on its way is not repeated; a refused one comes with the next batch")
    func pendingAndRefused() throws {
        let documents = UniversalProfilingDocuments(seed: 7, pendingLifetime: .seconds(3600))
        let first = try #require(Self.hostItems(documents.items(for: Self.batch(at: 0))).first)
        #expect(Self.hostItems(documents.items(for: Self.batch(at: 1))).isEmpty)
        // Due anyway while the first is on its way: the refresh does not wait for it.
        #expect(Self.hostItems(documents.items(for: Self.batch(at: 600))).count == 1)
        documents.settled(first, accepted: false)
        #expect(Self.hostItems(documents.items(for: Self.batch(at: 601))).count == 1)
        #expect(documents.rememberedCount(.host) == 0)
    }

    @Test("at most the capacity of hosts is remembered")
    func bounded() throws {
        var capacities = WriteOnceCapacities()
        capacities.hosts = 2
        let documents = UniversalProfilingDocuments(capacities: capacities)
        for number in 0..<5 {
            let batch = Self.batch(at: UInt64(number)) { $0.hostID = String(format: "%032x", number) }
            for item in Self.hostItems(documents.items(for: batch)) { documents.settled(item, accepted: true) }
        }
        #expect(documents.rememberedCount(.host) == 2)
        // The newest are kept; the oldest, forgotten, is described again.
        #expect(Self.hostItems(documents.items(for: Self.batch(at: 10) { $0.hostID = String(format: "%032x", 4) })).isEmpty)
        #expect(Self.hostItems(documents.items(for: Self.batch(at: 10) { $0.hostID = String(format: "%032x", 0) })).count == 1)
    }

    func exporter(port: Int, documents: UniversalProfilingDocuments) throws -> ElasticsearchProfilesExporter {
        try ElasticsearchProfilesTests().exporter(port: port, documents: documents)
    }

    @Test("a host document the bulk API refuses is counted and written with the next batch")
    func refusedByElasticsearch() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, #"[{"index_items": {"profiling-hosts": [400]}}]"#])
        defer { stub.stop() }
        let documents = UniversalProfilingDocuments(seed: 7)
        let exporter = try exporter(port: port, documents: documents)
        exporter.export(sampleProfilesBatch())
        try waitUntil("the first batch is settled") { exporter.statistics.rejected == 1 }
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(try ElasticsearchProfilesTests.indices(dump, request: 0).filter { $0 == "profiling-hosts" }.count == 1)
        let second = try ElasticsearchProfilesTests.indices(dump, request: 1)
        #expect(second.filter { $0 == "profiling-hosts" }.count == 1)
        #expect(!second.contains("profiling-stacktraces"))
        #expect(exporter.statistics.rejected == 1)
        #expect(documents.rememberedCount(.host) == 1)
        let check = try ElasticsearchProfilesTests.run(["check", dump.path, ElasticsearchProfilesTests.schema])
        #expect(check.status == 0, "\(check.errors)")
    }

    @Test("a throttled host document is retried like the others")
    func throttledByElasticsearch() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, #"[{"index_items": {"profiling-hosts": [429]}}]"#])
        defer { stub.stop() }
        let documents = UniversalProfilingDocuments(seed: 7)
        let exporter = try exporter(port: port, documents: documents)
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(try ElasticsearchProfilesTests.indices(dump, request: 1) == ["profiling-hosts"])
        #expect(exporter.statistics.retried == 1)
        #expect(exporter.statistics.rejected == 0 && exporter.statistics.dropped == 0)
        #expect(documents.rememberedCount(.host) == 1)
    }

    @Test("the schema check fails on a host document indexed, without host.id, with an unknown field or a bad ip")
    func schemaCheckCanFail() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let valid = #""@timestamp":1700000000,"ecs.version":"1.12.0","host.id":"h""#
        let cases: [(lines: String, problem: String)] = [
            (#"[{"index":{"_index":"profiling-hosts"}},{\#(valid)}]"#, "which takes only 'create'"),
            (#"[{"create":{"_index":"profiling-hosts"}},{"@timestamp":1700000000,"ecs.version":"1.12.0"}]"#,
             "without 'host.id'"),
            (#"[{"create":{"_index":"profiling-hosts"}},{\#(valid),"host.name":"x"}]"#, "unknown field 'host.name'"),
            (#"[{"create":{"_index":"profiling-hosts"}},{\#(valid),"profiling.host.ip":"10.0.0.300"}]"#, "not a valid ip"),
            (#"[{"create":{"_index":"profiling-hosts","_id":"x"}},{\#(valid)}]"#, "document with an _id"),
            (#"[{"create":{"_index":"profiling-hosts"}},{\#(valid),"profiling.agent.start_time":"soon"}]"#,
             "not a valid epoch_millis"),
        ]
        for (number, (lines, problem)) in cases.enumerated() {
            let dump = directory.appendingPathComponent("dump\(number).jsonl")
            try Data(#"{"lines":\#(lines),"bytes":0}"#.utf8 + [0x0a]).write(to: dump)
            let result = try ElasticsearchProfilesTests.run(["check", dump.path, ElasticsearchProfilesTests.schema])
            #expect(result.status == 1)
            #expect(result.errors.contains(problem), "\(result.errors)")
        }
    }
}
