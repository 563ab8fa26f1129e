@testable import Exporters
import Configuration
import Foundation
import Profiles
import Testing

/// The `elasticsearch` exporter of a `profiles` pipeline against the bulk stand-in:
/// every document checked against the index schema, each write-once document written
/// once, and again when Elasticsearch did not take it.
@Suite("elasticsearch profiles exporter")
struct ElasticsearchProfilesTests {
    static let schema = peersDirectory.appendingPathComponent("profiling-index-schema.json").path
    static let checker = peersDirectory.appendingPathComponent("es_profiling_check.py").path

    static func run(_ arguments: [String]) throws -> (output: String, status: Int32, errors: String) {
        let process = Process()
        let output = Pipe(), errors = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", checker] + arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (text, process.terminationStatus, problems)
    }

    /// The index of each document of request `number` in the dump.
    static func indices(_ dump: URL, request number: Int) throws -> [String] {
        let record = try readJSONLines(dump)[number]
        let lines = try #require(record["lines"] as? [[String: Any]])
        return stride(from: 0, to: lines.count, by: 2).compactMap {
            (lines[$0].values.first as? [String: Any])?["_index"] as? String
        }
    }

    func exporter(port: Int, documents: UniversalProfilingDocuments) throws -> ElasticsearchProfilesExporter {
        let node = mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")), ("retry_on_failure", fastRetry))
        return try ElasticsearchProfilesExporter(
            id: "elasticsearch", settings: ConfigMappingReader(node, path: "exporters.elasticsearch"), isDefined: true,
            logger: LogCapture().logger(), documents: documents, environment: [:])
    }

    @Test("documents fit the schema; a second batch of the same stacks writes only events")
    func writeOnce() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, "[]"])
        defer { stub.stop() }
        let documents = UniversalProfilingDocuments(seed: 7)
        let exporter = try exporter(port: port, documents: documents)
        exporter.export(sampleProfilesBatch())
        try waitUntil("the first batch is accepted") { exporter.statistics.sent > 0 }
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(20))

        let check = try Self.run(["check", dump.path, Self.schema])
        #expect(check.status == 0, "\(check.errors)")
        let first = try Self.indices(dump, request: 0)
        let second = try Self.indices(dump, request: 1)
        for index in ["profiling-stacktraces", "profiling-stackframes", "profiling-executables",
                      "profiling-sq-leafframes", "profiling-sq-executables"] {
            #expect(first.contains(index), "\(index) missing from the first request")
        }
        #expect(second.allSatisfy { $0.hasPrefix("profiling-events-") })
        #expect(second.filter { $0 == "profiling-events-all" }.count == 4)
        // Two traces (one truncated), the named frames (main, tcp_sendmsg): once each.
        #expect(first.filter { $0 == "profiling-stacktraces" }.count == 2)
        #expect(first.filter { $0 == "profiling-stackframes" }.count == 2)
        #expect(first.filter { $0 == "profiling-executables" }.count == 1)
        #expect(documents.rememberedCount(.stackTrace) == 2)
        #expect(exporter.statistics.sent == UInt64(first.count + second.count))
        // Every event names the host: the batch's host.id (the machine id when serving) and host.name.
        let lines = try readJSONLines(dump).flatMap { try #require($0["lines"] as? [[String: Any]]) }
        let events = stride(from: 0, to: lines.count, by: 2).filter {
            ((lines[$0].values.first as? [String: Any])?["_index"] as? String)?.hasPrefix("profiling-events-") == true
        }.map { lines[$0 + 1] }
        #expect(events.count >= 8)
        #expect(events.allSatisfy {
            $0["host.id"] as? String == "0123456789abcdef0123456789abcdef" && $0["host.name"] as? String == "profiles-host"
        })
    }

    @Test("a refused stack frame document is written again with the next batch")
    func rewriteAfterRejection() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, #"[{"index_items": {"profiling-stackframes": [400]}}]"#])
        defer { stub.stop() }
        let exporter = try exporter(port: port, documents: UniversalProfilingDocuments(seed: 7))
        exporter.export(sampleProfilesBatch())
        try waitUntil("the first batch is settled") { exporter.statistics.rejected == 1 }
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(20))
        let second = try Self.indices(dump, request: 1)
        #expect(second.filter { $0 == "profiling-stackframes" }.count == 1)
        #expect(!second.contains("profiling-stacktraces"))
        #expect(exporter.statistics.rejected == 1)
    }

    @Test("downsampled counts shrink level by level, and a fixed seed repeats them")
    func downsampling() throws {
        func counts(seed: UInt64) -> [String: Int] {
            let documents = UniversalProfilingDocuments(seed: seed)
            var batch = sampleProfilesBatch()
            // 2,000 events of one stack.
            batch.samples = [SymbolizedSample(timestamps: (0..<2000).map { 1_700_000_000_000_000_000 + UInt64($0) },
                                              process: batch.samples[0].process, threadID: 1, cpu: 0,
                                              frames: batch.samples[0].frames)]
            return documents.items(for: batch).reduce(into: [:]) { $0[$1.index, default: 0] += 1 }
        }
        let first = counts(seed: 42)
        #expect(first == counts(seed: 42))
        #expect(first["profiling-events-all"] == 2000)
        let levels = [first["profiling-events-all"] ?? 0] + UniversalProfilingDocuments.downsampledEventIndices.map { first[$0] ?? 0 }
        for (upper, lower) in zip(levels, levels.dropFirst()) { #expect(lower <= upper) }
        // About one in five at each level: 2000 → ~400 → ~80.
        #expect((300...500).contains(levels[1]))
        #expect((40...130).contains(levels[2]))
    }

    @Test("documents on their way are not repeated; refused or given-up ones are written again")
    func pendingDocuments() throws {
        let writeOnce = { (items: [BulkItem]) in items.filter { $0.writeOnce != nil } }
        let documents = UniversalProfilingDocuments(pendingLifetime: .seconds(3600))
        let first = writeOnce(documents.items(for: sampleProfilesBatch()))
        #expect(!first.isEmpty)
        #expect(writeOnce(documents.items(for: sampleProfilesBatch())).isEmpty)
        let frame = try #require(first.first { $0.index == "profiling-stackframes" })
        documents.settled(frame, accepted: false)
        for item in first where item != frame { documents.settled(item, accepted: true) }
        #expect(writeOnce(documents.items(for: sampleProfilesBatch())) == [frame])

        // A request dropped without a word: its documents come again once they are given up.
        let forgetful = UniversalProfilingDocuments(pendingLifetime: .zero)
        let again = writeOnce(forgetful.items(for: sampleProfilesBatch()))
        #expect(writeOnce(forgetful.items(for: sampleProfilesBatch())) == again)
    }

    @Test("a large batch goes in several bulk requests of at most a few MiB, nothing left out")
    func largeBatchesAreSplit() throws {
        var batch = sampleProfilesBatch()
        batch.samples = [SymbolizedSample(timestamps: (0..<30_000).map { 1_700_000_000_000_000_000 + UInt64($0) },
                                          process: batch.samples[0].process, threadID: 1, cpu: 0,
                                          frames: batch.samples[0].frames)]
        let documents = UniversalProfilingDocuments(seed: 1)
        let connection = try ElasticsearchConnection(reading: ConfigMappingReader(nil, path: "exporters.elasticsearch"),
                                                     id: "elasticsearch", isDefined: true, logger: LogCapture().logger(),
                                                     environment: [:])
        let target = ElasticsearchBulkTarget<ProfilesBatch>(connection: connection, client: try HTTPClient(), logger: LogCapture().logger(),
                                                            encode: { documents.items(for: $0) }, unencodedItems: { _ in 1 })
        let requests = try target.makeRequests(for: batch)
        #expect(requests.count > 1)
        for request in requests {
            let bytes = request.items.reduce(0) { $0 + $1.action.count + $1.document.count + 2 }
            #expect(bytes <= ElasticsearchBulkTarget<ProfilesBatch>.maximumRequestBytes)
        }
        let events = requests.flatMap(\.items).filter { $0.index == "profiling-events-all" }
        #expect(events.count == 30_000)
    }

    @Test("the schema check fails on an unknown field, a wrong type, a missing _id and a short id")
    func schemaCheckCanFail() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(lines: String, problem: String)] = [
            (#"[{"create":{"_index":"profiling-events-all"}},{"Stacktrace.count":1,"process.pid":7}]"#, "unknown field 'process.pid'"),
            (#"[{"create":{"_index":"profiling-events-all"}},{"Stacktrace.count":70000}]"#, "is not a valid short"),
            (#"[{"index":{"_index":"profiling-stacktraces"}},{"ecs.version":"1.12.0"}]"#, "document without _id"),
            (#"[{"index":{"_index":"profiling-stackframes","_id":"AAAA"}},{"ecs.version":"1.12.0"}]"#, "not 24"),
        ]
        for (number, (lines, problem)) in cases.enumerated() {
            let dump = directory.appendingPathComponent("dump\(number).jsonl")
            try Data(#"{"lines":\#(lines),"bytes":0}"#.utf8 + [0x0a]).write(to: dump)
            let result = try Self.run(["check", dump.path, Self.schema])
            #expect(result.status == 1)
            #expect(result.errors.contains(problem), "\(result.errors)")
        }
    }
}
