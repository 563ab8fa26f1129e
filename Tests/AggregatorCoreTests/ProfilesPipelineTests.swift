import AggregatorCore
import Configuration
import Foundation
import Testing
import WireFormat

/// The `profiles` pipeline end to end: a replay's profiles, sent by `otlphttp` to a real
/// HTTP receiver that decodes them with the official opentelemetry-proto classes (or
/// written by `file` as OTLP/JSON lines and parsed by those classes), give back the
/// folded stacks `--folded` writes for the same replay.
@Suite struct ProfilesPipelineTests {
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Peers")
    static let capture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/demo-mixed.tndm")

    /// Both pipelines in one configuration; `PROFILES_EXPORTER` is defined by each test.
    static func configuration(profilesExporter: String, directory: String) throws -> CollectorConfiguration {
        try CollectorConfiguration(yaml: """
            receivers:
              profiling:
                SamplesPerSecond: 19
                reporter_interval: 200ms
            connectors:
              profilingmetrics:
            exporters:
            \(profilesExporter)
              file/metrics:
                path: \(directory)/metrics.jsonl
            service:
              pipelines:
                profiles:
                  receivers: [ profiling ]
                  exporters: [ profilingmetrics, \(profilesExporter.split(separator: ":")[0].trimmingCharacters(in: .whitespaces)) ]
                metrics:
                  receivers: [ profilingmetrics ]
                  exporters: [ file/metrics ]
            """, environment: [:])
    }

    /// Replays `bytes` with the profiles pipeline; returns `--folded`'s text and the exporters' counters.
    func replayWithFolded(_ bytes: [UInt8], configuration: CollectorConfiguration,
                          directory: String) throws -> (folded: String, statistics: [String: String]) {
        let folded = directory + "/stacks.folded"
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: OutputPaths(folded: folded),
                                            hostID: "0123456789abcdef0123456789abcdef", logger: quietLogger)
        let stream = StreamPipeline(runtime: runtime, logger: quietLogger)
        try stream.consume(bytes[...])
        stream.finish(error: nil)
        let statistics = try runtime.shutdown().mapValues(\.description)
        return (try String(contentsOfFile: folded, encoding: .utf8), statistics)
    }

    @Test(arguments: ["synthetic", "capture"])
    func otlphttpProfilesDecodeToTheFoldedStacksOfTheReplay(input: String) throws {
        let directory = try temporaryDirectory()
        let dump = directory + "/requests.jsonl"
        let peer = try PythonPeer(script: Self.peers.appendingPathComponent("otlp_profiles_peer.py").path,
                                  arguments: ["serve", dump])
        defer { peer.stop() }
        let port = try peer.readPort()
        let configuration = try Self.configuration(profilesExporter: """
              otlphttp:
                endpoint: http://127.0.0.1:\(port)
                retry_on_failure: { enabled: false }
            """, directory: directory)
        let bytes = input == "synthetic" ? SyntheticStream.bytes() : try [UInt8](Data(contentsOf: Self.capture))
        let (folded, statistics) = try replayWithFolded(bytes, configuration: configuration, directory: directory)

        let records = try String(contentsOfFile: dump, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(statistics["otlphttp (profiles)"] == "sent=\(records.count) retried=0 dropped=0 rejected=0")
        // A second of samples in 200 ms batches: more than one request.
        #expect(records.count > 1)
        for record in records {
            #expect(record["path"] as? String == "/v1development/profiles")
            #expect(record["content_type"] as? String == "application/x-protobuf")
            #expect(record["content_encoding"] as? String == "gzip")
        }
        #expect(!folded.isEmpty)
        #expect(try PythonPeer.run(Self.peers.appendingPathComponent("otlp_profiles_peer.py").path,
                                   ["folded", dump]) == folded)
    }

    /// `otlp` (gRPC) in both pipelines, to a grpcio server on the official classes: the
    /// profiles fold to `--folded` of the replay, the metrics decode.
    @Test func otlpGRPCProfilesDecodeToTheFoldedStacksOfTheReplay() throws {
        let directory = try temporaryDirectory()
        let profilesDump = directory + "/profiles.jsonl"
        let metricsDump = directory + "/metrics.jsonl"
        let peer = try PythonPeer(script: Self.peers.appendingPathComponent("otlp_grpc_peer.py").path,
                                  arguments: ["serve", profilesDump, metricsDump])
        defer { peer.stop() }
        let port = try peer.readPort()
        let configuration = try CollectorConfiguration(yaml: """
            receivers:
              profiling:
                SamplesPerSecond: 19
                reporter_interval: 200ms
            connectors:
              profilingmetrics:
            exporters:
              otlp:
                endpoint: 127.0.0.1:\(port)
                tls:
                  insecure: true
                retry_on_failure: { enabled: false }
            service:
              pipelines:
                profiles:
                  receivers: [ profiling ]
                  exporters: [ profilingmetrics, otlp ]
                metrics:
                  receivers: [ profilingmetrics ]
                  exporters: [ otlp ]
            """, environment: [:])
        let (folded, statistics) = try replayWithFolded(try [UInt8](Data(contentsOf: Self.capture)),
                                                        configuration: configuration, directory: directory)
        func records(_ path: String) throws -> [[String: Any]] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }
        let profiles = try records(profilesDump)
        let metrics = try records(metricsDump)
        #expect(profiles.count > 1)
        #expect(!metrics.isEmpty)
        #expect(statistics["otlp (profiles)"] == "sent=\(profiles.count) retried=0 dropped=0 rejected=0")
        #expect(statistics["otlp"] == "sent=\(metrics.count) retried=0 dropped=0 rejected=0")
        #expect(metrics.allSatisfy { (($0["request"] as? [String: Any])?["resourceMetrics"] as? [Any])?.isEmpty == false })
        #expect(!folded.isEmpty)
        #expect(try PythonPeer.run(Self.peers.appendingPathComponent("otlp_profiles_peer.py").path,
                                   ["folded", profilesDump]) == folded)
    }

    @Test func theFileExporterWritesOTLPJSONLinesOfTheSameProfiles() throws {
        let directory = try temporaryDirectory()
        let lines = directory + "/profiles.jsonl"
        let configuration = try Self.configuration(profilesExporter: """
              file/profiles:
                path: \(lines)
            """, directory: directory)
        let (folded, statistics) = try replayWithFolded(try [UInt8](Data(contentsOf: Self.capture)),
                                                        configuration: configuration, directory: directory)
        let written = try String(contentsOfFile: lines, encoding: .utf8).split(separator: "\n").count
        #expect(written > 1)
        #expect(statistics["file/profiles (profiles)"] == "sent=\(written) retried=0 dropped=0 rejected=0")
        #expect(try PythonPeer.run(Self.peers.appendingPathComponent("otlp_profiles_peer.py").path,
                                   ["folded", lines]) == folded)
    }
}

extension ProfilesPipelineTests {
    /// What binutils' `readelf` prints with `arguments`.
    static func readelf(_ arguments: [String]) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["readelf"] + arguments
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    /// The GNU build id of `path` as binutils' `readelf -n` prints it.
    static func readelfBuildID(_ path: String) throws -> String {
        let text = try readelf(["-n", path])
        let line = try #require(text.split(separator: "\n").first { $0.contains("Build ID:") })
        return line.split(separator: " ").last.map(String.init) ?? ""
    }

    /// Universal Profiling's file ID of `path`, computed by Python's hashlib.
    static func pythonFileID(_ path: String) throws -> String {
        let script = """
            import hashlib, sys
            data = open(sys.argv[1], "rb").read()
            print(hashlib.sha256(data[:4096] + data[-4096:] + len(data).to_bytes(8, "big")).digest()[:16].hex())
            """
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func mappingsCarryTheBuildIDAndFileIDOfTheFilesTandemRead() throws {
        // A real ELF file of this machine (Debian's coreutils), mapped by a synthetic process.
        let path = URL(fileURLWithPath: "/usr/bin/true").resolvingSymlinksInPath().path
        var status = stat()
        #expect(stat(path, &status) == 0)
        var encoder = StreamEncoder(header: SyntheticStream.header)
        encoder.append(.process(WireFormat.ProcessInfo(pid: 5151, parentPID: 1, startTime: 0, comm: "mapped",
                                            executablePath: path, cgroupPath: "/")))
        encoder.append(.mappings(Mappings(pid: 5151, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0100_0000, fileOffset: 0, device: UInt64(status.st_dev),
                    inode: UInt64(status.st_ino), path: path),
        ])))
        var time = SyntheticStream.header.clock.monotonicNanoseconds
        for _ in 0..<10 {
            time += 10_000_000
            encoder.appendSample(time: time, pid: 5151, tid: 5151, cpu: 0, kernelStack: [],
                                 userStack: [0x5555_0000_2010, 0x5555_0000_3020])
        }
        encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished)))

        let directory = try temporaryDirectory()
        let lines = directory + "/profiles.jsonl"
        let configuration = try Self.configuration(profilesExporter: """
              file/profiles:
                path: \(lines)
            """, directory: directory)
        _ = try replayWithFolded(encoder.takeBytes(), configuration: configuration, directory: directory)
        let mappings = try PythonPeer.run(Self.peers.appendingPathComponent("otlp_profiles_peer.py").path,
                                          ["mappings", lines])
        #expect(mappings == "\(path) gnu=\(try Self.readelfBuildID(path)) htlhash=\(try Self.pythonFileID(path))\n")
    }
}

/// A Python test peer: a server (`readPort`, `stop`) or a one-shot command (`run`).
final class PythonPeer: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    init(script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Reads standard output up to the `PORT n` line a server prints once it listens.
    func readPort() throws -> Int {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(output.fileHandleForReading.fileDescriptor, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") {
                let text = String(decoding: line, as: UTF8.self)
                if text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) { return port }
                line = []
            } else {
                line.append(byte)
            }
        }
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw PythonPeerError(message: "the peer exited before it listened: \(message)")
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `script arguments` to its end; its standard output, or a thrown error with its
    /// standard error when it fails.
    static func run(_ script: String, _ arguments: [String]) throws -> String {
        let peer = try PythonPeer(script: script, arguments: arguments)
        let stdout = peer.output.fileHandleForReading.readDataToEndOfFile()
        peer.process.waitUntilExit()
        guard peer.process.terminationStatus == 0 else {
            let message = String(decoding: peer.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw PythonPeerError(message: "\(script) \(arguments.joined(separator: " ")) failed: \(message)")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

struct PythonPeerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
