import Profiles

/// The runtime whose JIT writes a process's perf map and fills its anonymous executable
/// memory (docs/jit-frames.md): every perf-map frame of the process takes its type, since a
/// perf map holds only the code its runtime generated (methods, stubs, adapters,
/// trampolines), whose names alone often tell nothing (`Interpreter`, `I2C/C2I adapters`).
public enum JITRuntime {
    /// The runtime told by the files a process runs: its executable, then its mapped files in
    /// address order; the first file that names one decides. Nil when none does.
    static func of(executablePath: String?, mappedPaths: [String]) -> FrameType? {
        if let executablePath, let runtime = of(fileName: baseName(executablePath)) { return runtime }
        for path in mappedPaths {
            if let runtime = of(fileName: baseName(path)) { return runtime }
        }
        return nil
    }

    /// The runtime a file belongs to, by its name: the VM library or executable each runtime
    /// ships (HotSpot's `libjvm.so`, Node's `node` or `libnode.so.N`, BEAM's `beam.smp`,
    /// CPython's `python3.X` or `libpython3.X.so.N`, CoreCLR's `libcoreclr.so`).
    public static func of(fileName name: Substring) -> FrameType? {
        switch name {
        case "libjvm.so": return .jvm
        case "node", "nodejs": return .v8js
        case "beam.smp", "beam": return .beam
        case "python3": return .cpython
        case "libcoreclr.so": return .dotnet
        default: break
        }
        if name.hasPrefix("libnode.so") { return .v8js }
        if name.hasPrefix("libpython3.") && name.contains(".so") { return .cpython }
        if name.hasPrefix("python3."), name.dropFirst("python3.".count).first?.isNumber == true { return .cpython }
        return nil
    }

    /// Whether the runtime's code fills the process's anonymous executable memory, so that a
    /// frame there that the perf map does not (yet) name is still that runtime's. CPython's is
    /// not: it runs from libpython, and its only such code, the `-X perf` trampolines, is in
    /// the map; other anonymous code in a Python process is libffi's (ctypes callbacks).
    static func ownsAnonymousCode(_ runtime: FrameType) -> Bool {
        switch runtime {
        case .jvm, .v8js, .beam, .dotnet: true
        default: false
        }
    }

    private static func baseName(_ path: String) -> Substring {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(path)
        // A deleted file's mapping keeps its name with a suffix.
        return name.hasSuffix(" (deleted)") ? name.dropLast(" (deleted)".count) : name
    }
}
