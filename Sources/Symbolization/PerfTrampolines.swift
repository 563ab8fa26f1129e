import Profiles

/// CPython 3.12+'s `-X perf` trampolines (docs/jit-frames.md): one small stub per code object,
/// named `py::function:/path/file.py` in the perf map, through which each evaluation of that
/// code object is called, so it sits just root-side of the `_PyEval_EvalFrameDefault` that runs
/// it. Where the sample's Python frames were walked, that frame is there too, with its file
/// and line, just leaf-side of the same `_PyEval_EvalFrameDefault`: each Python function
/// would show twice, so the trampolines go. Without walked frames they stay, the only names.
enum PerfTrampolines {
    /// `frames` without the trampolines among its native user frames, `frames[userStart...]`:
    /// before the merge, the only `cpython` frames there are the perf map's, and a CPython
    /// process's perf map holds trampolines only.
    static func removed(from frames: [Frame], userStart: Int) -> [Frame] {
        guard frames[userStart...].contains(where: { $0.type == .cpython }) else { return frames }
        return Array(frames[..<userStart]) + frames[userStart...].filter { $0.type != .cpython }
    }
}
