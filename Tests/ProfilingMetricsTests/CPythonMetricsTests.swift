import ProfileOutputs
import Profiles
import ProfilingMetrics
import Testing

/// Python stacks as the CPython symbolizer merges them: the connector's rules are by
/// frame type, so `cpython` frames count like any runtime's; `samples.classification`,
/// which the reference defines for Go and JVM, tandem extends to native namespaces and to
/// a Python frame's module and class.
@Suite("profilingmetrics connector: CPython frames")
struct CPythonMetricsTests {
    static let python = ProcessIdentity(pid: 300, comm: "python3", executablePath: "/usr/bin/python3.11")

    static func python(_ name: String, code: UInt64, line: UInt32) -> Frame {
        Frame(type: .cpython, address: code, functionName: name, sourceFile: "/srv/app/worker.py", sourceLine: line)
    }

    static let main = frame(.native, "main", address: 0x5555_0100_1000, mapping: "/usr/bin/python3.11")
    static let eval = frame(.native, "_PyEval_EvalFrameDefault", address: 0x5555_0100_2000,
                            mapping: "/usr/bin/python3.11")
    static let libpythonEval = frame(.native, "_PyEval_EvalFrameDefault", address: 0x7f00_0000_2000,
                                     mapping: "/usr/lib/libpython3.11.so.1.0")
    static let module = python("<module>", code: 0x7f10_0000_1000, line: 10)
    static let runAt42 = python("Worker.run", code: 0x7f10_0000_2000, line: 42)
    static let runAt57 = python("Worker.run", code: 0x7f10_0000_2000, line: 57)

    static func samples() -> [SymbolizedSample] {
        [
            // Python leaf: samples.cpython.count.
            sample([runAt42, eval, module, eval, main], at: [0, 0.1], process: python),
            sample([runAt57, eval, module, eval, main], at: [0.2], process: python),
            // Kernel leaf above Python: a kernel sample, not a Python one.
            sample([kernel("__x64_sys_read", 1), runAt42, eval, module, eval, main], at: [0.3], process: python),
            // Native leaf in libpython above Python: a native sample with its shlib_name.
            sample([libpythonEval, module, eval, main], at: [0.4], process: python),
        ]
    }

    @Test("samples.cpython.count counts samples whose leaf is a Python frame, whatever its line")
    func leafCounts() throws {
        let connector = try connector(settings("by_frame: true"))
        for sample in Self.samples() { connector.add(sample) }
        let points = points(connector.finish())
        #expect(total(points, "samples.cpython.count") == 3)
        #expect(total(points, "samples.kernel.count") == 1)
        #expect(total(points, "samples.native.count", ["shlib_name": "libpython3.11"]) == 1)
        #expect(total(points, "samples.user.count") == 4)
        #expect(points.filter { $0.metric == "samples.cpython.count" }.allSatisfy { $0.attributes.isEmpty && $0.pid == 300 })
    }

    @Test("the text report's cpython row is samples.cpython.count, its Python function rows add up to it")
    func reportAgrees() throws {
        let connector = try connector(settings("by_frame: true"))
        for sample in Self.samples() { connector.add(sample) }
        let metrics = points(connector.finish())
        var aggregate = ProfileAggregate()
        aggregate.add(contentsOf: Self.samples())
        let sections = TextReport().sections(aggregate)
        let cpythonRow = try #require(sections[1].rows.first { $0.type == .cpython })
        #expect(cpythonRow.count == total(metrics, "samples.cpython.count"))
        let functionRows = sections[0].rows.filter { $0.type == .cpython }
        #expect(functionRows.map(\.label) == ["Worker.run (worker.py)"])
        #expect(functionRows.reduce(0) { $0 + $1.count } == cpythonRow.count)
    }

    @Test("samples.frame_type counts every Python frame; samples.classification by module and class")
    func gauges() throws {
        let connector = try connector(settings("by_frametype: true\nby_classification: true"))
        for sample in Self.samples() { connector.add(sample) }
        let points = points(connector.finish())
        func frames(_ type: String) -> Int64 {
            total(points, "samples.frame_type", ["frame_type": type, "profile.type_unit": "samples_count"])
        }
        // Two per stack but the last, which has one; the kernel frame once.
        #expect(frames("cpython") == 7)
        #expect(frames("native") == 12)
        #expect(frames("kernel") == 1)
        func classified(_ classification: String) -> Int64 {
            total(points, "samples.classification",
                  ["classification": classification, "frame_type": "cpython", "profile.type_unit": "samples_count"])
        }
        // Worker.run in worker.py: module worker, class Worker (3 stacks); <module>: the module (4).
        #expect(classified("worker.Worker") == 3)
        #expect(classified("worker") == 4)
    }

    @Test("Python scopes: module from the file, class from the qualified name")
    func pythonScopes() {
        #expect(FrameClassification.pythonScope(qualifiedName: "Job.run", file: "/srv/app/worker.py") == "worker.Job")
        #expect(FrameClassification.pythonScope(qualifiedName: "main", file: "/srv/app/worker.py") == "worker")
        #expect(FrameClassification.pythonScope(qualifiedName: "f.<locals>.C.m", file: "/a/m.py") == "m.C")
        #expect(FrameClassification.pythonScope(qualifiedName: "f.<locals>.g", file: "/a/m.py") == "m")
        #expect(FrameClassification.pythonScope(qualifiedName: "load", file: "/usr/lib/python3/dist-packages/yaml/__init__.py") == "yaml")
        #expect(FrameClassification.pythonScope(qualifiedName: "<module>", file: "<string>") == "<string>")
        #expect(FrameClassification.pythonScope(qualifiedName: "f", file: "") == nil)
    }
}
