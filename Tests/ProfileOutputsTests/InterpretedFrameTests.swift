import Profiles
import Testing
@testable import ProfileOutputs

/// Python processes as the CPython symbolizer hands them over: `cpython` frames (code
/// object address, qualified name, source file and line, no mapping) merged into the
/// native stack before each `_PyEval_EvalFrameDefault`, some under a kernel leaf.
enum PythonFixture {
    static let python = ProcessIdentity(pid: 300, comm: "python3", executablePath: "/usr/bin/python3.11")
    /// A second interpreter running the same script: its code objects are at other addresses.
    static let other = ProcessIdentity(pid: 301, comm: "python3", executablePath: "/usr/bin/python3.11")

    static let main = Frame(type: .native, address: 0x5555_0100_1000, functionName: "main",
                            mappingPath: "/usr/bin/python3.11", fileOffset: 0x1000)
    static let eval = Frame(type: .native, address: 0x5555_0100_2000, functionName: "_PyEval_EvalFrameDefault",
                            mappingPath: "/usr/bin/python3.11", fileOffset: 0x2000)
    static let sysRead = Frame(type: .kernel, address: 0xffff_ffff_8100_3000, functionName: "__x64_sys_read")

    static func python(_ name: String, code: UInt64, _ file: String, _ line: UInt32) -> Frame {
        Frame(type: .cpython, address: code, functionName: name, sourceFile: file, sourceLine: line)
    }

    static let module = python("<module>", code: 0x7f10_0000_1000, "/srv/app/main.py", 10)
    static let runAt42 = python("Worker.run", code: 0x7f10_0000_2000, "/srv/app/worker.py", 42)
    /// The same code object as `runAt42`, another line.
    static let runAt57 = python("Worker.run", code: 0x7f10_0000_2000, "/srv/app/worker.py", 57)
    static let compute = python("compute", code: 0x7f10_0000_4000, "/srv/app/pkg/__init__.py", 5)
    static let helperNoLine = python("helper", code: 0x7f10_0000_5000, "/srv/app/util.py", 0)
    static let otherModule = python("<module>", code: 0x7f20_0000_1000, "/srv/app/main.py", 10)
    static let otherRunAt42 = python("Worker.run", code: 0x7f20_0000_2000, "/srv/app/worker.py", 42)

    static var samples: [SymbolizedSample] {
        let caller = [eval, module, eval, main]
        return [
            Fixture.sample(python, tid: 300, weight: 2, [sysRead, runAt42] + caller),
            Fixture.sample(python, tid: 300, weight: 3, [runAt57] + caller),
            Fixture.sample(python, tid: 300, weight: 1, [runAt42] + caller),
            // 3.11+ calls a Python function without a new C-level evaluation.
            Fixture.sample(python, tid: 300, weight: 1, [compute, runAt42] + caller),
            Fixture.sample(python, tid: 300, weight: 1, [helperNoLine, eval, main]),
            Fixture.sample(other, tid: 301, weight: 1, [otherRunAt42, eval, otherModule, eval, main]),
        ]
    }

    static var aggregate: ProfileAggregate {
        var aggregate = ProfileAggregate()
        aggregate.add(contentsOf: samples)
        return aggregate
    }

    static let total: Int64 = 9
}

@Suite struct InterpretedFrameTests {
    @Test func labelsShowTheSourceLocationOfInterpretedFramesOnly() {
        #expect(PythonFixture.runAt42.locationLabel == "Worker.run (worker.py:42)")
        #expect(PythonFixture.runAt42.functionLabel == "Worker.run (worker.py)")
        #expect(PythonFixture.compute.locationLabel == "compute (pkg/__init__.py:5)")
        #expect(PythonFixture.helperNoLine.locationLabel == "helper (util.py)")
        #expect(PythonFixture.eval.locationLabel == "_PyEval_EvalFrameDefault")
        #expect(PythonFixture.eval.functionLabel == PythonFixture.eval.displayName)
        #expect(Fixture.libcWrite.locationLabel == "libc.so.6+0x2000")
        #expect(Frame.shortSourceFileName("/usr/lib/python3.11/json/__main__.py") == "json/__main__.py")
        #expect(Frame.shortSourceFileName("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>")
        #expect(Frame.shortSourceFileName("__init__.py") == "__init__.py")
        // An empty file name (code compiled from a string) is no file.
        let unnamedFile = PythonFixture.python("f", code: 0x7f10_0000_6000, "", 3)
        #expect(unnamedFile.locationLabel == "f" && unnamedFile.functionLabel == "f")
    }

    @Test func foldedStacksNameInterpretedFramesWithFileAndLine() {
        let lines = FoldedStacksWriter().lines(for: PythonFixture.aggregate)
        let caller = "python3;main;_PyEval_EvalFrameDefault;<module> (main.py:10);_PyEval_EvalFrameDefault"
        #expect(lines == [
            "\(caller);Worker.run (worker.py:42) 2",
            "\(caller);Worker.run (worker.py:42);__x64_sys_read 2",
            "\(caller);Worker.run (worker.py:42);compute (pkg/__init__.py:5) 1",
            "\(caller);Worker.run (worker.py:57) 3",
            "python3;main;_PyEval_EvalFrameDefault;helper (util.py) 1",
        ])
    }

    @Test func foldedSegmentsStayOneFrameWhateverTheFileName() {
        var aggregate = ProfileAggregate()
        let frame = PythonFixture.python("f", code: 0x7f10_0000_9000, "/srv/a;b\nc.py", 3)
        aggregate.add(Fixture.sample(PythonFixture.python, tid: 300, weight: 1, [frame, PythonFixture.main]))
        #expect(FoldedStacksWriter().render(aggregate) == "python3;main;f (a:b c.py:3) 1\n")
    }

    @Test func textReportAddsUpAPythonFunctionAcrossItsLines() {
        let sections = TextReport(topCount: 10).sections(PythonFixture.aggregate)
        // Worker.run: 3 at line 57, 1 at line 42, 1 in the other process.
        #expect(sections[0].rows.map(\.label) == ["Worker.run (worker.py)", "__x64_sys_read", "compute (pkg/__init__.py)",
                                                  "helper (util.py)"])
        #expect(sections[0].rows.map(\.count) == [5, 2, 1, 1])
        #expect(sections[0].rows.map(\.type) == [.cpython, .kernel, .cpython, .cpython])
        #expect(sections[1].rows.map(\.label) == ["cpython", "kernel"])
        #expect(sections[1].rows.map(\.count) == [7, 2])
        let text = TextReport(topCount: 10).render(PythonFixture.aggregate)
        #expect(text.contains("  55.56%        5  cpython  Worker.run (worker.py)\n"))
    }

    @Test func textReportKeepsFunctionsOfOneNameInDifferentFilesApart() {
        var aggregate = ProfileAggregate()
        let first = PythonFixture.python("run", code: 0x7f10_0000_a000, "/srv/a/jobs.py", 3)
        let second = PythonFixture.python("run", code: 0x7f10_0000_b000, "/srv/b/tasks.py", 3)
        aggregate.add(Fixture.sample(PythonFixture.python, tid: 300, weight: 2, [first, PythonFixture.main]))
        aggregate.add(Fixture.sample(PythonFixture.python, tid: 300, weight: 1, [second, PythonFixture.main]))
        let rows = TextReport().sections(aggregate)[0].rows
        #expect(rows.map(\.label) == ["run (jobs.py)", "run (tasks.py)"])
        #expect(rows.map(\.count) == [2, 1])
    }

    @Test func flameGraphColoursPythonFramesAndListsThemInTheLegend() throws {
        let parsed = try FlameGraphFrames.parse(FlameGraphSVG().render(PythonFixture.aggregate))
        #expect(parsed.texts.contains("cpython"))
        #expect(parsed.texts.contains("native") && parsed.texts.contains("kernel"))
        let run = try #require(parsed.frames.first { $0.name == "Worker.run (worker.py:57)" })
        #expect(run.title == "Worker.run (worker.py:57) (cpython, /srv/app/worker.py): 3 samples, 33.33%")
        #expect(run.label == "Worker.run (worker.py:57)")
        let colour = FrameTree.Kind.frame(.cpython).color(for: "Worker.run (worker.py:57)")
        #expect(run.rects.first?["fill"] == colour)
        // Blue, not the native red.
        let eval = try #require(parsed.frames.first { $0.name == "_PyEval_EvalFrameDefault" })
        #expect(eval.rects.first?["fill"] != colour)
        let channels = colour.dropFirst(4).dropLast().split(separator: ",").compactMap { Int($0) }
        #expect(channels.count == 3 && channels[2] > channels[0])

        // Two files with one base name: two frames, told apart by their tooltips.
        var twoFiles = ProfileAggregate()
        for directory in ["a", "b"] {
            let frame = PythonFixture.python("run", code: 0x7f10_0000_7000, "/srv/\(directory)/tasks.py", 3)
            twoFiles.add(Fixture.sample(PythonFixture.python, tid: 300, weight: 1, [frame, PythonFixture.main]))
        }
        let drawn = try FlameGraphFrames.parse(FlameGraphSVG().render(twoFiles)).frames.filter { $0.name == "run (tasks.py:3)" }
        #expect(drawn.map(\.title) == ["run (tasks.py:3) (cpython, /srv/a/tasks.py): 1 sample, 50.00%",
                                       "run (tasks.py:3) (cpython, /srv/b/tasks.py): 1 sample, 50.00%"])

        // No Python frame, no `cpython` entry.
        let native = try FlameGraphFrames.parse(FlameGraphSVG().render(Fixture.aggregate))
        #expect(!native.texts.contains("cpython"))
    }
}
