import Profiles
import Testing
@testable import ProfileOutputs

/// What PprofWriter encodes for interpreted frames, read back field by field
/// (profile.proto field numbers).
@Suite struct PprofInterpretedFrameTests {
    struct Location {
        var mappingID: UInt64
        var address: UInt64
        var functionID: UInt64
        var line: UInt64
    }

    struct Function {
        var name: String
        var systemName: String
        var filename: String
        var startLine: UInt64
    }

    struct Decoded {
        var strings: [String]
        var locations: [UInt64: Location]
        var functions: [UInt64: Function]
        var mappingFiles: [String]
        var samples: [[UInt64]]
    }

    static func decode(_ aggregate: ProfileAggregate) throws -> Decoded {
        let profile = try ProtobufFields(PprofWriter(samplesPerSecond: 99).encode(aggregate))
        let strings = profile.bytes(6).map { String(decoding: $0, as: UTF8.self) }
        var locations: [UInt64: Location] = [:]
        for location in try profile.messages(4) {
            let lines = try location.messages(4)
            #expect(lines.count == 1)
            locations[location.uint(1)] = Location(mappingID: location.uint(2), address: location.uint(3),
                                                   functionID: lines.first?.uint(1) ?? 0, line: lines.first?.uint(2) ?? 0)
        }
        var functions: [UInt64: Function] = [:]
        for function in try profile.messages(5) {
            functions[function.uint(1)] = Function(name: strings[Int(function.uint(2))],
                                                   systemName: strings[Int(function.uint(3))],
                                                   filename: strings[Int(function.uint(4))], startLine: function.uint(5))
        }
        let mappingFiles = try profile.messages(3).map { strings[Int($0.uint(5))] }
        let samples = try profile.messages(2).map { try $0.packed(1) }
        return Decoded(strings: strings, locations: locations, functions: functions, mappingFiles: mappingFiles,
                       samples: samples)
    }

    @Test func aPythonFunctionIsOneFunctionWithItsFileAndOneLocationPerLine() throws {
        let decoded = try Self.decode(PythonFixture.aggregate)
        let run = decoded.functions.filter { $0.value.name == "Worker.run" }
        #expect(run.count == 1)
        let (runID, function) = try #require(run.first)
        #expect(function.filename == "/srv/app/worker.py")
        #expect(function.systemName == "Worker.run")
        #expect(function.startLine == 0)
        // Lines 42 and 57; the other process's line 42 shares its location.
        let runLocations = decoded.locations.values.filter { $0.functionID == runID }
        #expect(Set(runLocations.map(\.line)) == [42, 57])
        #expect(runLocations.count == 2)
        #expect(runLocations.allSatisfy { $0.mappingID == 0 && $0.address == 0 })
        let module = try #require(decoded.functions.first { $0.value.name == "<module>" })
        #expect(decoded.locations.values.filter { $0.functionID == module.key }.map(\.line) == [10])
        // An unknown line is line 0.
        let helper = try #require(decoded.functions.first { $0.value.name == "helper" })
        #expect(helper.value.filename == "/srv/app/util.py")
        #expect(decoded.locations.values.filter { $0.functionID == helper.key }.map(\.line) == [0])
        // No mapping for Python code.
        #expect(decoded.mappingFiles.sorted() == ["/usr/bin/python3.11", PprofWriter.kernelMappingName])
    }

    @Test func nativeFramesKeepTheirAddressMappingAndFile() throws {
        let decoded = try Self.decode(PythonFixture.aggregate)
        let eval = try #require(decoded.functions.first { $0.value.name == "_PyEval_EvalFrameDefault" })
        #expect(eval.value.filename == "/usr/bin/python3.11")
        let locations = decoded.locations.values.filter { $0.functionID == eval.key }
        #expect(locations.map(\.address) == [0x5555_0100_2000])
        #expect(locations.allSatisfy { $0.mappingID != 0 && $0.line == 0 })
    }

    @Test func samplesListTheirLocationsLeafFirst() throws {
        let decoded = try Self.decode(PythonFixture.aggregate)
        func describe(_ id: UInt64) -> String {
            guard let location = decoded.locations[id], let function = decoded.functions[location.functionID] else {
                return "?\(id)"
            }
            return location.line == 0 ? function.name : "\(function.name):\(location.line)"
        }
        let stacks = decoded.samples.map { $0.map(describe) }
        #expect(stacks.count == 6)
        #expect(stacks.contains(["__x64_sys_read", "Worker.run:42", "_PyEval_EvalFrameDefault", "<module>:10",
                                 "_PyEval_EvalFrameDefault", "main"]))
        #expect(stacks.contains(["Worker.run:57", "_PyEval_EvalFrameDefault", "<module>:10",
                                 "_PyEval_EvalFrameDefault", "main"]))
        #expect(stacks.contains(["compute:5", "Worker.run:42", "_PyEval_EvalFrameDefault", "<module>:10",
                                 "_PyEval_EvalFrameDefault", "main"]))
        #expect(stacks.contains(["helper", "_PyEval_EvalFrameDefault", "main"]))
        #expect(stacks.filter { $0 == ["Worker.run:42", "_PyEval_EvalFrameDefault", "<module>:10",
                                       "_PyEval_EvalFrameDefault", "main"] }.count == 2)
    }

    @Test func aNativeOnlyProfileEncodesAsBefore() throws {
        // Location ids stay frame ids + 1 and every location keeps its address and mapping.
        let decoded = try Self.decode(Fixture.aggregate)
        #expect(decoded.locations.count == Fixture.aggregate.frames.count + 1)
        for (index, frame) in Fixture.aggregate.frames.enumerated() {
            let location = try #require(decoded.locations[UInt64(index + 1)])
            #expect(location.address == frame.address)
            #expect(location.line == 0)
            #expect(decoded.functions[location.functionID]?.name == frame.displayName)
        }
    }
}

extension PprofInterpretedFrameTests {
    /// The real pprof (`go tool pprof`): per function, Python lines add up; per line
    /// (`-lines`), each shows with its file; `-list` finds the function's source file.
    @Test func goToolPprofShowsPythonFunctionsFilesAndLines() throws {
        let path = temporaryPath("python.pb.gz")
        try PprofWriter(samplesPerSecond: 99).write(PythonFixture.aggregate, toFile: path)
        let top = try PprofWriterTests.pprof(["-top", "-sample_index=samples"], path)
        #expect(top.contains("Showing nodes accounting for 9, 100% of 9 total"))
        #expect(top.contains("         5 55.56% 55.56%          8 88.89%  Worker.run\n"))
        let lines = try PprofWriterTests.pprof(["-top", "-lines", "-sample_index=samples"], path)
        #expect(lines.contains("         3 33.33% 33.33%          3 33.33%  Worker.run /srv/app/worker.py:57\n"))
        #expect(lines.contains("         2 22.22% 55.56%          5 55.56%  Worker.run /srv/app/worker.py:42\n"))
        #expect(lines.contains("  compute /srv/app/pkg/__init__.py:5\n"))
        #expect(lines.contains("  helper /srv/app/util.py\n"))
        #expect(lines.contains("  _PyEval_EvalFrameDefault /usr/bin/python3.11\n"))
        let raw = try PprofWriterTests.pprof(["-raw"], path)
        #expect(raw.contains(": 0x0 Worker.run /srv/app/worker.py:42 s=0\n"))
        #expect(raw.contains(": 0x555501002000 M=2 _PyEval_EvalFrameDefault /usr/bin/python3.11:0 s=0\n"))
        let list = try PprofWriterTests.pprof(["-list", "Worker.run"], path)
        #expect(list.contains("ROUTINE ======================== Worker.run in /srv/app/worker.py"))
    }
}
