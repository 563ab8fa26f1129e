import CPythonLayouts
import CPythonSymbolization
import Foundation
import Testing

/// The contract against live memory: Fixtures/walk_self.py walks its own interpreter's
/// frames as the BPF walker will, with the layout from `CPythonLayout.supported`, and
/// takes the code records' copies by following the code objects' pointers; the decoded
/// names, files and lines must be what the interpreter says of each frame.
@Suite struct LiveWalkTests {
    struct Walk: Decodable {
        struct Expected: Decodable {
            var code: UInt64
            var name: String
            var fileName: String
            var firstLine: Int
            var line: Int
        }
        struct Frame: Decodable, CodeRecordCopies {
            var code: UInt64
            var instruction: UInt32
            var entry: Bool
            var header: String
            var nameCopy: String
            var qualifiedNameCopy: String
            var fileCopy: String
            var lineTableCopy: String
        }
        struct Result: Decodable {
            var label: String
            var threadFound: Bool
            var expected: [Expected]
            var frames: [Frame]
        }
        var version: String
        var fsBaseIsThreadID: Bool
        var results: [Result]
    }

    /// Every interpreter on the machine with a supported version: pyenv's and Debian's.
    static var interpreters: [String] {
        let pyenvPaths = InterpreterDetectionTests.pyenvVersions.filter { $0.major == 3 && $0.minor >= 8 }
            .map { "\($0.directory)/bin/python3.\($0.minor)" }
        return (pyenvPaths + ["/usr/bin/python3.11"]).filter { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func layoutJSON(_ layout: CPythonLayout) -> String {
        let fields: [(String, Int)] = [
            ("runtimeInterpretersHead", Int(layout.runtimeInterpretersHead)), ("interpreterNext", Int(layout.interpreterNext)),
            ("interpreterThreadsHead", Int(layout.interpreterThreadsHead)), ("threadNext", Int(layout.threadNext)),
            ("threadID", Int(layout.threadID)), ("threadFrame", Int(layout.threadFrame)),
            ("cframeCurrentFrame", Int(layout.cframeCurrentFrame)), ("framePrevious", Int(layout.framePrevious)),
            ("frameCode", Int(layout.frameCode)), ("frameInstruction", Int(layout.frameInstruction)),
            ("frameOwner", Int(layout.frameOwner)), ("frameIsEntry", Int(layout.frameIsEntry)),
            ("codeName", Int(layout.codeName)), ("codeQualifiedName", Int(layout.codeQualifiedName)),
            ("codeFileName", Int(layout.codeFileName)), ("codeLineTable", Int(layout.codeLineTable)),
            ("codeInstructions", Int(layout.codeInstructions)), ("codeHeaderBytes", Int(layout.codeHeaderBytes)),
            ("unicodeLength", Int(layout.unicodeLength)), ("unicodeState", Int(layout.unicodeState)),
            ("unicodeASCIIData", Int(layout.unicodeASCIIData)), ("unicodeCompactData", Int(layout.unicodeCompactData)),
            ("bytesSize", Int(layout.bytesSize)), ("bytesData", Int(layout.bytesData)),
            ("instructionKind", Int(layout.instructionKind.rawValue)), ("entryKind", Int(layout.entryKind.rawValue)),
            ("ownerCStack", Int(layout.ownerCStack)),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func walk(_ interpreter: String, layout: CPythonLayout) throws -> Walk {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = [CodeRecordFixture.directory.appendingPathComponent("walk_self.py").path, layoutJSON(layout)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(interpreter)")
        return try JSONDecoder().decode(Walk.self, from: output)
    }

    @Test(arguments: interpreters)
    func walkDecodesLiveFrames(interpreter: String) throws {
        let minor = try #require(UInt8(interpreter.split(separator: ".").last ?? ""))
        let layout = try #require(CPythonLayout.layout(for: CPythonVersion(major: 3, minor: minor)))
        let walk = try Self.walk(interpreter, layout: layout)
        #expect(walk.fsBaseIsThreadID, "pthread_self() is the fs base")
        #expect(walk.results.map(\.label) == ["main thread", "second thread"])
        for result in walk.results {
            #expect(result.threadFound, "\(walk.version) \(result.label)")
            // The leaf frames are the walk's own, which ran on after it read them.
            let frames = Array(result.frames.drop { $0.code != result.expected.first?.code })
            #expect(result.frames.count - frames.count <= 3)
            #expect(frames.map(\.code) == result.expected.map(\.code), "\(walk.version) \(result.label)")
            for (frame, expected) in zip(frames, result.expected) {
                let code = try frame.decode(with: layout)
                #expect(code.name.text == expected.name)
                #expect(code.fileName.text == expected.fileName)
                #expect(code.firstLine == expected.firstLine)
                #expect(code.line(forInstruction: frame.instruction) == expected.line,
                        "\(walk.version) \(expected.name): instruction \(frame.instruction)")
                // Where a C-level evaluation starts: everywhere before 3.11; after C callers only from 3.11 on.
                let calledFromC = expected.name.hasSuffix("<lambda>") && expected.name.contains("call_through_c")
                    || expected.name.hasSuffix("steps")
                let calledFromPython = expected.name == "direct" || expected.name == "call_through_c"
                    || expected.name.hasSuffix("Worker.run") || expected.name == "run"
                if layout.entryKind == .everyFrame || calledFromC {
                    #expect(frame.entry, "\(walk.version) \(expected.name)")
                } else if calledFromPython {
                    #expect(!frame.entry, "\(walk.version) \(expected.name)")
                }
            }
            #expect(frames.last?.entry == true, "the root frame was started from C")
        }
    }
}
