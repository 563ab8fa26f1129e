import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// CPython 3.12+ `-X perf`: every evaluation of a code object is called through a trampoline
/// the perf map names `py::function:/file.py` (with `-X perf` each Python call is one, so each
/// Python frame is an entry frame). The BPF walker's Python frames name the same functions.
@Suite("CPython perf trampolines")
struct PerfTrampolineTests {
    static func native(_ name: String, _ address: UInt64) -> Frame {
        Frame(type: .native, address: address, functionName: name, mappingPath: "/opt/python/lib/libpython3.12.so.1.0")
    }

    static func python(_ name: String, _ code: UInt64, line: UInt32) -> Frame {
        Frame(type: .cpython, address: code, functionName: name, sourceFile: "/app/spin.py", sourceLine: line)
    }

    /// The Python functions of a stack, leaf first: walked frames by name, trampolines by the
    /// name inside `py::name:/file`.
    static func pythonFunctions(_ frames: [Frame]) -> [String] {
        frames.filter { $0.type == .cpython }.compactMap { frame in
            guard let name = frame.functionName else { return nil }
            guard name.hasPrefix("py::") else { return name }
            return String(name.dropFirst(4).prefix { $0 != ":" })
        }
    }

    static func repeatsInARow(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).contains { $0 == $1 }
    }

    /// fn_alpha (leaf) called by loop, both run through their trampolines, as the symbolizer
    /// names the native stack of a process whose runtime is cpython.
    static let nativeFrames = [
        native("_PyEval_EvalFrameDefault", 0x7f00_1000_0100),
        Frame(type: .cpython, address: 0x7f00_2000_0010, functionName: "py::fn_alpha:/app/spin.py"),
        native("_PyEval_Vector", 0x7f00_1000_0200),
        native("_PyEval_EvalFrameDefault", 0x7f00_1000_0100),
        Frame(type: .cpython, address: 0x7f00_2000_0020, functionName: "py::loop:/app/spin.py"),
        native("Py_RunMain", 0x7f00_1000_0300),
    ]
    static let walked = [python("fn_alpha", 0x7f10_0000_1000, line: 2), python("loop", 0x7f10_0000_2000, line: 6)]

    @Test("Merged with the walked frames, the trampolines would show each Python function twice in a row; without them it does not")
    func merge() {
        let kept = CPythonFrameMerge.merge(Self.walked, entries: [true, true], into: Self.nativeFrames, userStart: 0)
        #expect(Self.pythonFunctions(kept) == ["fn_alpha", "fn_alpha", "loop", "loop"])
        let merged = CPythonFrameMerge.merge(Self.walked, entries: [true, true],
                                             into: PerfTrampolines.removed(from: Self.nativeFrames, userStart: 0), userStart: 0)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "fn_alpha", "_PyEval_EvalFrameDefault", "_PyEval_Vector", "loop", "_PyEval_EvalFrameDefault", "Py_RunMain",
        ])
        #expect(Self.pythonFunctions(merged) == ["fn_alpha", "loop"])
        #expect(!Self.repeatsInARow(Self.pythonFunctions(merged)))
    }

    @Test("Only the native user frames lose their trampolines; kernel frames and other frames stay")
    func removal() {
        let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_0010, functionName: "asm_sysvec_apic_timer_interrupt")
        let frames = [kernel] + Self.nativeFrames
        #expect(PerfTrampolines.removed(from: frames, userStart: 1).map(\.type) == [.kernel, .native, .native, .native, .native])
        #expect(PerfTrampolines.removed(from: [kernel, Self.nativeFrames[0]], userStart: 1) == [kernel, Self.nativeFrames[0]])
    }

    /// The symbolizer end to end: a fixture `libpython3.12.so.1.0` (which makes the process's
    /// runtime cpython) with the evaluation functions, and the trampolines in anonymous memory
    /// named by the perf map.
    @Test("A sample with walked Python frames hides the trampolines; one without keeps them, typed cpython")
    func symbolizer() throws {
        let directory = try TemporaryDirectory()
        let source = directory.file("libpython.c")
        try """
            long _PyEval_EvalFrameDefault(long x) { return x * 3 + 1; }
            long _PyEval_Vector(long x) { return _PyEval_EvalFrameDefault(x) + 2; }
            long Py_RunMain(long x) { return _PyEval_Vector(x) - 1; }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let library = directory.file("libpython3.12.so.1.0")
        try run(["cc", "-O0", "-shared", "-fPIC", "-Wl,--build-id", "-o", library, source])
        let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: library)))
        let segments = try ELFReader.read(image: image).segments
        var symbols: [String: UInt64] = [:]
        for line in try run(["nm", "--defined-only", library]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, let address = UInt64(fields[0], radix: 16) { symbols[String(fields[2])] = address }
        }
        let base: UInt64 = 0x7e00_0000_0000
        func address(_ name: String) throws -> UInt64 {
            let virtual = try #require(symbols[name])
            let segment = try #require(segments.first { $0.virtualAddress <= virtual && virtual < $0.virtualAddress + $0.fileSize })
            return base + virtual - segment.virtualAddress + segment.fileOffset + 4
        }
        var status = stat()
        #expect(stat(library, &status) == 0)

        let pid: Int32 = 0x3fff_fb00
        let jit: UInt64 = 0x7f00_2000_0000
        try "7f0020000000 b py::fn_alpha:/app/spin.py\n7f002000000b b py::loop:/app/spin.py\n"
            .write(toFile: directory.file("perf-\(pid).map"), atomically: true, encoding: .utf8)
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], perfMapDirectory: directory.path), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "python3.12",
                                                         executablePath: "/opt/python/bin/python3.12", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [
            Mapping(start: base, end: base + (UInt64(image.count + 0xfff) & ~0xfff), fileOffset: 0,
                    device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: library),
            Mapping(start: jit, end: jit + 0x1000, fileOffset: 0, device: 0, inode: 0, path: ""),
        ])))
        let eval = try address("_PyEval_EvalFrameDefault")
        let stack = [eval, jit + 0x4, try address("_PyEval_Vector"), eval, jit + 0xb + 0x4, try address("Py_RunMain")]
        let walked = [CPythonFrame(code: 0x7f10_0000_1000, fingerprint: 1, instruction: 4, flags: .entry),
                      CPythonFrame(code: 0x7f10_0000_2000, fingerprint: 2, instruction: 8, flags: .entry)]

        let plain = symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: stack)).frames
        #expect(plain.map { $0.functionName ?? "?" } == [
            "_PyEval_EvalFrameDefault", "py::fn_alpha:/app/spin.py", "_PyEval_Vector", "_PyEval_EvalFrameDefault",
            "py::loop:/app/spin.py", "Py_RunMain",
        ])
        #expect(plain.map(\.type) == [.native, .cpython, .native, .native, .cpython, .native])

        let merged = symbolizer.symbolize(Sample(time: 2, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: stack,
                                                 interpreterStack: walked.flatMap { [$0.words.0, $0.words.1] },
                                                 interpreterStackKind: .cpython)).frames
        // The walked frames (unnamed here: no code records) each before their evaluation; no trampoline.
        #expect(merged.map { $0.functionName ?? "code 0x\(String($0.address, radix: 16))" } == [
            "code 0x7f1000001000", "_PyEval_EvalFrameDefault", "_PyEval_Vector", "code 0x7f1000002000",
            "_PyEval_EvalFrameDefault", "Py_RunMain",
        ])
        #expect(merged.map(\.type) == [.cpython, .native, .native, .cpython, .native, .native])
    }
}
