import AggregatorCore
import Configuration
import Foundation
import Testing
import WireFormat

/// The `profiles` pipeline to Elasticsearch end to end: a replay's profiles, written by
/// the `elasticsearch` exporter to the bulk stand-in, pass the index schema check and
/// give back, from the events, stack traces and stack frames alone, the folded stacks
/// `--folded` writes for the same replay.
@Suite struct ElasticsearchProfilesPipelineTests {
    static let peers = ProfilesPipelineTests.peers
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Folded stacks as counts by stack, with the frames tandem could not name made `?`:
    /// the indices name those only through the symbolization queues, and `--folded`
    /// shows them by file offset or address, which the ids do not carry as such.
    static func normalized(_ folded: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in folded.split(separator: "\n") {
            guard let space = line.lastIndex(of: " "), let count = Int(line[line.index(after: space)...]) else { continue }
            let frames = line[..<space].split(separator: ";", omittingEmptySubsequences: false).map { frame -> String in
                isUnnamed(frame) ? "?" : frozenModulesRenamed(String(frame))
            }
            counts[frames.joined(separator: ";"), default: 0] += count
        }
        return counts
    }

    /// `f (<frozen importlib._bootstrap>:12)` as the indices name it: `f (_bootstrap.py:12)`.
    static func frozenModulesRenamed(_ frame: String) -> String {
        guard let start = frame.range(of: " (<frozen "), let end = frame.range(of: ">", range: start.upperBound..<frame.endIndex)
        else { return frame }
        let module = frame[start.upperBound..<end.lowerBound]
        let file = (module.split(separator: ".").last.map(String.init) ?? String(module)) + ".py"
        return String(frame[..<start.lowerBound]) + " (" + file + frame[end.upperBound...]
    }

    /// `file+0x1f0` or `0x7f00…`: how ``Frame/displayName`` shows a frame without a name.
    static func isUnnamed(_ frame: Substring) -> Bool {
        let address = frame.range(of: "+0x", options: .backwards).map { frame[$0.upperBound...] }
            ?? (frame.hasPrefix("0x") ? frame.dropFirst(2) : nil)
        guard let address, !address.isEmpty else { return false }
        return address.allSatisfy(\.isHexDigit)
    }

    @Test(arguments: ["synthetic", "demo-mixed.tndm", "cpython-3.11.tndm"])
    func indexedDocumentsRebuildTheFoldedStacks(input: String) throws {
        let directory = try temporaryDirectory()
        let dump = directory + "/bulk.jsonl"
        let stub = try PythonPeer(script: Self.peers.appendingPathComponent("es_bulk_stub.py").path, arguments: [dump, "[]"])
        defer { stub.stop() }
        let port = try stub.readPort()
        let configuration = try ProfilesPipelineTests.configuration(profilesExporter: """
              elasticsearch:
                endpoint: http://127.0.0.1:\(port)
                retry_on_failure: { enabled: false }
            """, directory: directory)
        let bytes = input == "synthetic" ? SyntheticStream.bytes()
            : try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent(input)))
        let (folded, statistics) = try ProfilesPipelineTests().replayWithFolded(bytes, configuration: configuration,
                                                                                 directory: directory)
        let counts = try PythonPeer.run(Self.peers.appendingPathComponent("es_profiling_check.py").path, ["counts", dump])
            .split(separator: "\n").reduce(into: [String: Int]()) {
                let parts = $1.split(separator: " ")
                $0[String(parts[0])] = Int(parts[1])
            }
        let documents = counts.values.reduce(0, +)
        #expect(statistics["elasticsearch (profiles)"] == "sent=\(documents) retried=0 dropped=0 rejected=0")
        let schema = Self.peers.appendingPathComponent("profiling-index-schema.json").path
        let rebuilt = try PythonPeer.run(Self.peers.appendingPathComponent("es_profiling_check.py").path,
                                         ["folded", dump, schema])
        #expect(!folded.isEmpty)
        #expect(Self.normalized(rebuilt) == Self.normalized(folded))
        // Every event once in the full index; the downsampled ones hold fewer, level by level.
        let events = Self.normalized(folded).values.reduce(0, +)
        #expect(counts["profiling-events-all"] == events)
        var previous = events
        for level in 1...11 {
            let count = counts[String(format: "profiling-events-5pow%02d", level)] ?? 0
            #expect(count <= previous)
            previous = count
        }
        // One stream of a few seconds from a host with a known id: its host described once.
        #expect(counts["profiling-hosts"] == 1)
        if input == "cpython-3.11.tndm" {
            // Python frames are named by tandem: stack frames with their source files.
            #expect(rebuilt.contains(".py:"))
        }
    }

    /// The `profiling-hosts` documents of streams replayed one after the other through one
    /// aggregator: `header` moved `seconds` later in wall time, with `change` applied.
    @Test func hostDocumentsPerStreamAndRefresh() throws {
        let directory = try temporaryDirectory()
        let dump = directory + "/bulk.jsonl"
        let stub = try PythonPeer(script: Self.peers.appendingPathComponent("es_bulk_stub.py").path, arguments: [dump, "[]"])
        defer { stub.stop() }
        let port = try stub.readPort()
        let configuration = try ProfilesPipelineTests.configuration(profilesExporter: """
              elasticsearch:
                endpoint: http://127.0.0.1:\(port)
                retry_on_failure: { enabled: false }
            """, directory: directory)
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: OutputPaths(),
                                            hostID: "0123456789abcdef0123456789abcdef", logger: quietLogger)
        let start = SyntheticStream.header.clock.realtimeNanoseconds / 1_000_000_000
        func replay(after seconds: UInt64, _ change: (inout StreamHeader) -> Void = { _ in }) throws {
            var header = SyntheticStream.header
            header.clock.realtimeNanoseconds += seconds * 1_000_000_000
            change(&header)
            let stream = StreamPipeline(runtime: runtime, logger: quietLogger)
            try stream.consume(SyntheticStream.bytes(header: header)[...])
            stream.finish(error: nil)
        }
        try replay(after: 0)                  // described: the host is new
        try replay(after: 300)                // the same sampler run again (a reconnect), 5 minutes on: nothing new
        try replay(after: 700)                // 10 minutes after the first document: described again
        try replay(after: 710) { $0.samplerStartTime = 500_000_000 }  // another sampler run: described at once
        let statistics = try runtime.shutdown().mapValues(\.description)

        let schema = Self.peers.appendingPathComponent("profiling-index-schema.json").path
        let check = try PythonPeer.run(Self.peers.appendingPathComponent("es_profiling_check.py").path, ["check", dump, schema])
        #expect(check.hasPrefix("ok "))
        let lines = try String(contentsOfFile: dump, encoding: .utf8).split(separator: "\n").flatMap { line in
            try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["lines"] as? [[String: Any]])
        }
        let hosts = stride(from: 0, to: lines.count, by: 2).filter {
            ((lines[$0]["create"] as? [String: Any])?["_index"] as? String) == "profiling-hosts"
        }.map { lines[$0 + 1] }
        #expect(hosts.count == 3)
        #expect(hosts.map { $0["@timestamp"] as? UInt64 } == [start, start + 700, start + 710])
        #expect(hosts.map { $0["profiling.agent.start_time"] as? UInt64 } == [nil, nil, (start + 710) * 1000 - 500])
        for host in hosts {
            #expect(host["host.id"] as? String == "0123456789abcdef0123456789abcdef")
            #expect(host["profiling.host.name"] as? String == "replay-host")
            #expect(host["profiling.host.kernel_version"] as? String == "6.18.0")
            #expect(host["profiling.agent.version"] as? String == "test")
            #expect(host["profiling.agent.config.sampling_frequency"] as? Int == 99)
            #expect(host["profiling.agent.config.present_cpu_cores"] as? Int == 2)
            #expect(host["profiling.project.id"] as? String == "1")
            // Serving the host it runs on, the aggregator names its machine.
            #expect(host["profiling.host.machine"] as? String != nil && host["host.arch"] as? String != nil)
        }
        let documents = lines.count / 2
        #expect(statistics["elasticsearch (profiles)"] == "sent=\(documents) retried=0 dropped=0 rejected=0")
    }
}
