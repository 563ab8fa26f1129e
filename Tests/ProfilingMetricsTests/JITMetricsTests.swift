import Foundation
import Logging
import Profiles
import ProfilingMetrics
import Symbolization
import Testing
import WireFormat

/// JIT frames as the symbolizer types them from perf maps (docs/jit-frames.md), counted by the
/// connector: a sample whose leaf is in a runtime's JIT code counts for that runtime, whether the
/// perf map's name has a telling shape (`int Prog.fn_alpha(int, int)`, `$mod:fn/2`), none
/// (a stub), or the map does not name it yet (anonymous memory of a JIT runtime).
@Suite("profilingmetrics connector: JIT frames from perf maps")
struct JITMetricsTests {
    struct Runtime {
        var type: FrameType
        var executable: String
        var library: String?
        /// A method or function name, then a stub's name that tells no runtime by its shape.
        var names: [String]
    }

    static let runtimes = [
        Runtime(type: .jvm, executable: "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                library: "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so",
                names: ["int Prog.fn_alpha(int, int)", "flush_icache_stub"]),
        Runtime(type: .v8js, executable: "/usr/bin/node", library: nil, names: ["JS:*fnAlpha /app/spin.js:1:17", "stub"]),
        Runtime(type: .beam, executable: "/usr/lib/erlang/erts-13.1.5/bin/beam.smp", library: nil,
                names: ["$unwind_erlang:mix/2", "stub"]),
        Runtime(type: .cpython, executable: "/opt/python/bin/python3.12", library: "/opt/python/lib/libpython3.12.so.1.0",
                names: ["py::fn_alpha:/app/spin.py", "py::loop:/app/spin.py"]),
        Runtime(type: .dotnet, executable: "/usr/share/dotnet/dotnet",
                library: "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.0/libcoreclr.so",
                names: ["instance int32 [App] App.Program::Work()[OptimizedTier1]", "stub<1> AllocateTemporaryEntryPoints"]),
    ]

    static let jit: UInt64 = 0x7f00_0000_0000

    /// Per runtime: 3 samples in its named frames (weights 2 and 1), 1 in its unnamed JIT memory.
    static func samples(_ symbolizer: Symbolizer, perfMaps: String) throws -> [SymbolizedSample] {
        var samples: [SymbolizedSample] = []
        for (index, runtime) in runtimes.enumerated() {
            let pid = Int32(0x3fff_f000 + index)
            try runtime.names.enumerated().map { "\(String(jit + 0x1000 * UInt64($0.offset), radix: 16)) 100 \($0.element)\n" }
                .joined().write(toFile: "\(perfMaps)/perf-\(pid).map", atomically: true, encoding: .utf8)
            symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "p\(index)",
                                                             executablePath: runtime.executable, cgroupPath: "/")))
            let files = [runtime.executable] + (runtime.library.map { [$0] } ?? [])
            symbolizer.apply(.mappings(Mappings(pid: pid, mappings: files.enumerated().map { file in
                Mapping(start: 0x5555_0000_0000 + 0x10_0000 * UInt64(file.offset), end: 0x5555_0000_1000 + 0x10_0000 * UInt64(file.offset),
                        fileOffset: 0, device: 0, inode: 0, path: file.element)
            } + [Mapping(start: jit, end: jit + 0x10_0000, fileOffset: 0, device: 0, inode: 0, path: "")])))
            for (leaf, times) in [(jit + 0x10, [1, 2]), (jit + 0x1010, [3]), (jit + 0x8000, [4])] as [(UInt64, [UInt64])] {
                var sample = symbolizer.symbolize(Sample(time: times[0], pid: pid, tid: pid, cpu: 0, kernelStack: [],
                                                         userStack: [leaf, jit + 0x1010]))
                sample.timestamps = times.map { at(Double($0)) }
                samples.append(sample)
            }
        }
        return samples
    }

    @Test("samples.<runtime>.count counts every sample whose leaf is in a runtime's JIT code")
    func leafCounts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-jit-metrics-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], perfMapDirectory: directory.path),
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let connector = try connector(settings("by_frame: true\nby_frametype: true"))
        for sample in try Self.samples(symbolizer, perfMaps: directory.path) { connector.add(sample) }
        let points = points(connector.finish())
        // JIT runtimes own their anonymous memory: 2 + 1 + 1.
        for runtime in [FrameType.jvm, .v8js, .beam, .dotnet] {
            #expect(total(points, "samples.\(runtime.rawValue).count") == 4, "\(runtime)")
        }
        // CPython's only anonymous code is its trampolines, which the map names; the rest is libffi's.
        #expect(total(points, "samples.cpython.count") == 3)
        #expect(total(points, "samples.native.count") == 1)
        #expect(total(points, "samples.user.count") == 20)
        // Every frame (two a stack, three stacks a runtime) is its runtime's but the unnamed one
        // of the Python process.
        #expect(total(points, "samples.frame_type", ["frame_type": "jvm"].merging(typeUnit) { $1 }) == 6)
        #expect(total(points, "samples.frame_type", ["frame_type": "cpython"].merging(typeUnit) { $1 }) == 5)
        #expect(total(points, "samples.frame_type", ["frame_type": "native"].merging(typeUnit) { $1 }) == 1)
    }
}
