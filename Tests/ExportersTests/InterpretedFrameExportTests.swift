import Foundation
import Logging
import OTLPProfilesProto
import Profiles
import Testing

@testable import Exporters

/// A Python process as the CPython symbolizer hands it over: `cpython` frames (code
/// object address, qualified name, source file and line, no mapping) merged before each
/// `_PyEval_EvalFrameDefault`, one sample under a kernel leaf; the same function at two
/// lines, and a second interpreter whose code objects are elsewhere.
func pythonProfilesBatch() -> ProfilesBatch {
    func python(_ name: String, code: UInt64, _ file: String, _ line: UInt32) -> Frame {
        Frame(type: .cpython, address: code, functionName: name, sourceFile: file, sourceLine: line)
    }
    let main = Frame(type: .native, address: 0x5555_0100_1000, functionName: "main", mappingPath: "/usr/bin/python3.11",
                     fileOffset: 0x1000)
    let eval = Frame(type: .native, address: 0x5555_0100_2000, functionName: "_PyEval_EvalFrameDefault",
                     mappingPath: "/usr/bin/python3.11", fileOffset: 0x2000)
    let sysRead = Frame(type: .kernel, address: 0xffff_ffff_8100_3000, functionName: "__x64_sys_read")
    let module = python("<module>", code: 0x7f10_0000_1000, "/srv/app/main.py", 10)
    let runAt42 = python("Worker.run", code: 0x7f10_0000_2000, "/srv/app/worker.py", 42)
    let runAt57 = python("Worker.run", code: 0x7f10_0000_2000, "/srv/app/worker.py", 57)
    let otherRunAt42 = python("Worker.run", code: 0x7f20_0000_2000, "/srv/app/worker.py", 42)
    let process = ProcessIdentity(pid: 300, comm: "python3", executablePath: "/usr/bin/python3.11")
    let other = ProcessIdentity(pid: 301, comm: "python3", executablePath: "/usr/bin/python3.11")
    let start: UInt64 = 1_700_000_000_000_000_000
    return ProfilesBatch(
        hostName: "profiles-host", samplesPerSecond: 20, startUnixNano: start, endUnixNano: start + 300_000_000,
        samples: [
            SymbolizedSample(timestamps: [start], process: process, threadID: 300, cpu: 0,
                             frames: [sysRead, runAt42, eval, module, eval, main]),
            SymbolizedSample(timestamps: [start + 100_000_000, start + 200_000_000], process: process, threadID: 300,
                             cpu: 0, frames: [runAt57, eval, module, eval, main]),
            SymbolizedSample(timestamps: [start + 300_000_000], process: other, threadID: 301, cpu: 1,
                             frames: [otherRunAt42, eval, module, eval, main]),
        ])
}

@Suite("OTLP profiles: interpreted frames")
struct InterpretedFrameExportTests {
    typealias ProfilesDictionary = Opentelemetry_Proto_Profiles_V1development_ProfilesDictionary

    static func frameType(_ location: Opentelemetry_Proto_Profiles_V1development_Location,
                          in dictionary: ProfilesDictionary) -> [String] {
        location.attributeIndices.map { dictionary.attributeTable[Int($0)] }
            .filter { dictionary.stringTable[Int($0.keyStrindex)] == "profile.frame.type" }
            .map(\.value.stringValue)
    }

    @Test("a Python function is one function with its file; a location per line, typed cpython, without mapping")
    func functionFileLineAndType() throws {
        let dictionary = OTLPProfiles.request(for: pythonProfilesBatch(), scopeVersion: "test").dictionary
        let strings = dictionary.stringTable
        let run = dictionary.functionTable.indices.filter { strings[Int(dictionary.functionTable[$0].nameStrindex)] == "Worker.run" }
        #expect(run.count == 1)
        let runIndex = try #require(run.first)
        #expect(strings[Int(dictionary.functionTable[runIndex].filenameStrindex)] == "/srv/app/worker.py")
        #expect(strings[Int(dictionary.functionTable[runIndex].systemNameStrindex)] == "Worker.run")

        let runLocations = dictionary.locationTable.filter { $0.lines.first?.functionIndex == Int32(runIndex) }
        // Lines 42 and 57; the other process's line 42 is the same location.
        #expect(runLocations.map { $0.lines[0].line }.sorted() == [42, 57])
        for location in runLocations {
            #expect(location.mappingIndex == 0)
            #expect(location.lines.count == 1)
            // The upstream profiler's "address or line" for interpreted frames.
            #expect(location.address == UInt64(location.lines[0].line))
            #expect(Self.frameType(location, in: dictionary) == ["cpython"])
        }
        // No mapping names a Python file.
        #expect(dictionary.mappingTable.dropFirst().map { strings[Int($0.filenameStrindex)] } == ["/usr/bin/python3.11"])
    }

    @Test("native and kernel frames next to Python frames keep their shape")
    func nativeFramesUnchanged() throws {
        let dictionary = OTLPProfiles.request(for: pythonProfilesBatch(), scopeVersion: "test").dictionary
        let strings = dictionary.stringTable
        let eval = try #require(dictionary.locationTable.first {
            $0.lines.first.map { strings[Int(dictionary.functionTable[Int($0.functionIndex)].nameStrindex)] }
                == "_PyEval_EvalFrameDefault"
        })
        #expect(eval.mappingIndex != 0)
        #expect(eval.address == 0x2000)
        #expect(eval.lines[0].line == 0)
        #expect(dictionary.functionTable[Int(eval.lines[0].functionIndex)].filenameStrindex == 0)
        #expect(Self.frameType(eval, in: dictionary) == ["native"])
        let kernel = try #require(dictionary.locationTable.first { Self.frameType($0, in: dictionary) == ["kernel"] })
        #expect(kernel.address == 0xffff_ffff_8100_3000)
    }

    /// The folded stacks the test peer rebuilds from `file` (JSON lines) with the official classes.
    static func peerFolded(_ file: URL) throws -> String {
        let process = Process()
        let output = Pipe(), errors = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", peersDirectory.appendingPathComponent("otlp_profiles_peer.py").path,
                             "folded", file.path]
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let folded = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(problem)")
        return folded
    }

    /// What `--folded` writes for `pythonProfilesBatch()`: the peer names interpreted frames by
    /// their function's file and their line, as `Frame.locationLabel` does.
    static let expectedFolded = {
        let caller = "python3;main;_PyEval_EvalFrameDefault;<module> (main.py:10);_PyEval_EvalFrameDefault"
        return """
            \(caller);Worker.run (worker.py:42) 1
            \(caller);Worker.run (worker.py:42);__x64_sys_read 1
            \(caller);Worker.run (worker.py:57) 2

            """
    }()

    @Test("the official OTLP classes read the Python frames' names, files and lines from OTLP/JSON")
    func officialDecoderSeesFileAndLineInJSON() throws {
        try requirePython(module: "opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2",
                          install: "pip install opentelemetry-proto==1.45.2")
        let lines = try temporaryDirectory().appendingPathComponent("profiles.jsonl")
        let json = try OTLPProfiles.encodeJSON(pythonProfilesBatch(), scopeVersion: "test")
        try Data(json + [UInt8(ascii: "\n")]).write(to: lines)
        #expect(try Self.peerFolded(lines) == Self.expectedFolded)
    }

    @Test("otlphttp sends the Python frames as protobuf that the official classes decode")
    func officialDecoderSeesFileAndLineInProtobuf() throws {
        try requirePython(module: "opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2",
                          install: "pip install opentelemetry-proto==1.45.2")
        let dump = try temporaryDirectory().appendingPathComponent("requests.jsonl")
        let (peer, port) = try startPeer("otlp_profiles_peer.py", ["serve", dump.path])
        defer { peer.stop() }
        let exporter = try ExporterFactory.makeProfiles(
            id: "otlphttp", node: mapping(("endpoint", .scalar("http://127.0.0.1:\(port)"))),
            scopeVersion: "test", logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        exporter.export(pythonProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(10))
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        let records = try readJSONLines(dump)
        #expect(records.first?["content_type"] as? String == "application/x-protobuf")
        #expect(try Self.peerFolded(dump) == Self.expectedFolded)
    }
}
