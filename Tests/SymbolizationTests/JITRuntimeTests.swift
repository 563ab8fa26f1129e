import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// Perf maps of each runtime, with names as each JIT writes them (taken from OpenJDK 17
/// `-XX:+DumpPerfMapAtExit`, Node 20 `--perf-basic-prof`, OTP 25 `+JPperf true`, CPython 3.12
/// `-X perf`; .NET from its documented `DOTNET_PerfMapEnabled` format), and the files that
/// tell each runtime. The JVM's and .NET's maps have names whose shape tells nothing (stubs).
struct JITFixture: Sendable, CustomTestStringConvertible {
    var runtime: FrameType
    var executable: String
    var library: String?
    var perfMap: [String]

    var testDescription: String { runtime.rawValue }

    static let all: [JITFixture] = [
        JITFixture(runtime: .jvm, executable: "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                   library: "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so", perfMap: [
                       "int Prog.fn_alpha(int, int)", "void Prog.main(java.lang.String[])", "Interpreter",
                       "I2C/C2I adapters", "flush_icache_stub",
                   ]),
        JITFixture(runtime: .v8js, executable: "/usr/bin/node", library: nil, perfMap: [
            "JS:*fnAlpha /app/spin.js:1:17", "JS:~main /app/spin.js:3:1", "Builtin:ArrayPrototypePush",
            "BytecodeHandler:Ldar", "RegExp:[a-z]+",
        ]),
        JITFixture(runtime: .beam, executable: "/usr/lib/erlang/erts-13.1.5/bin/beam.smp", library: nil, perfMap: [
            "$unwind_erlang:mix/2", "$unwind_erlang:descend/2", "$global::call_nif_shared",
            "$erts_beamasm:normal_exit/0-CodeInfoPrologue", "$unwind_erlang::codeHeader",
        ]),
        JITFixture(runtime: .cpython, executable: "/opt/python/bin/python3.12",
                   library: "/opt/python/lib/libpython3.12.so.1.0", perfMap: [
                       "py::fn_alpha:/app/spin.py", "py::loop:/app/spin.py", "py::<module>:/app/spin.py",
                       "py::_find_and_load:<frozen importlib._bootstrap>", "py::run:/app/worker.py",
                   ]),
        JITFixture(runtime: .dotnet, executable: "/usr/share/dotnet/dotnet",
                   library: "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.0/libcoreclr.so", perfMap: [
                       "instance int32 [App] App.Program::Work()[OptimizedTier1]",
                       "void [App] App.Program::Main(string[])[Tier0]",
                       "void [System.Private.CoreLib] System.Threading.Thread::StartCallback()[PreJIT]",
                       "stub<1> AllocateTemporaryEntryPoints<PRECODE_STUB>",
                       "dynamicClass::IL_STUB_PInvoke(native int)[Optimized]",
                   ]),
    ]

    /// The map's lines: entry `i` at `base + 0x1000 * i`, 0x100 bytes.
    func perfMapText(base: UInt64) -> String {
        perfMap.enumerated().map { "\(String(base + 0x1000 * UInt64($0.offset), radix: 16)) 100 \($0.element)\n" }.joined()
    }
}

/// A symbolizer over one process whose JIT fills [0x7f00_0000_0000, +0x10_0000) and writes
/// `perf-PID.map` into a temporary directory.
struct JITProcess {
    static let jitBase: UInt64 = 0x7f00_0000_0000
    let directory: TemporaryDirectory
    let symbolizer: Symbolizer
    let pid: Int32

    init(pid: Int32, executable: String, mappedFiles: [String], perfMap: String?) throws {
        directory = try TemporaryDirectory()
        self.pid = pid
        if let perfMap { try perfMap.write(toFile: directory.file("perf-\(pid).map"), atomically: true, encoding: .utf8) }
        symbolizer = Symbolizer(options: .init(debugDirectories: [], perfMapDirectory: directory.path), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0,
                                                         comm: String(executable.split(separator: "/").last!.prefix(15)),
                                                         executablePath: executable, cgroupPath: "/")))
        // The files at low addresses (never sampled here: no file is read), the JIT memory above.
        var mappings = mappedFiles.enumerated().map { index, path in
            Mapping(start: 0x5555_0000_0000 + 0x100_0000 * UInt64(index), end: 0x5555_0000_0000 + 0x100_0000 * UInt64(index) + 0x1000,
                    fileOffset: 0, device: 0, inode: 0, path: path)
        }
        mappings.append(Mapping(start: Self.jitBase, end: Self.jitBase + 0x10_0000, fileOffset: 0, device: 0, inode: 0, path: ""))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: mappings)))
    }

    func frames(_ userStack: [UInt64], time: UInt64 = 1) -> [Frame] {
        symbolizer.symbolize(Sample(time: time, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: userStack)).frames
    }
}

@Suite("JIT frames typed by their runtime")
struct JITRuntimeTests {
    @Test("The runtime told by a file's name", arguments: [
        ("libjvm.so", FrameType.jvm), ("node", .v8js), ("libnode.so.108", .v8js), ("beam.smp", .beam),
        ("python3.12", .cpython), ("python3.8", .cpython), ("libpython3.12.so.1.0", .cpython), ("libpython3.11.so", .cpython),
        ("libcoreclr.so", .dotnet),
    ] as [(String, FrameType)])
    func fileNames(name: String, runtime: FrameType) {
        #expect(JITRuntime.of(fileName: Substring(name)) == runtime)
    }

    @Test("Files that tell no runtime", arguments: ["libc.so.6", "python3-config", "libpython3.12.a", "nodeenv", "java", "dotnet",
                                                    "libjvm.so.bak", "beam.smp.sh"])
    func otherFiles(name: String) {
        #expect(JITRuntime.of(fileName: Substring(name)) == nil)
    }

    @Test("The executable first, then the mapped files in order; directories and deleted files' suffixes do not count")
    func processFiles() {
        #expect(JITRuntime.of(executablePath: "/usr/bin/node", mappedPaths: ["/x/libjvm.so"]) == .v8js)
        #expect(JITRuntime.of(executablePath: "/opt/jdk/bin/java",
                              mappedPaths: ["/opt/jdk/bin/java", "/usr/lib/libc.so.6", "/opt/jdk/lib/server/libjvm.so"]) == .jvm)
        #expect(JITRuntime.of(executablePath: "/opt/node/app", mappedPaths: ["/opt/node/app"]) == nil)
        #expect(JITRuntime.of(executablePath: nil, mappedPaths: ["/usr/lib/erlang/bin/beam.smp (deleted)"]) == .beam)
        #expect(JITRuntime.of(executablePath: nil, mappedPaths: []) == nil)
    }

    @Test("Perf-map name shapes", arguments: [
        ("int Prog.fn_alpha(int, int)", FrameType.jvm),
        ("void sun.security.provider.DigestBase.engineUpdate(byte[], int, int)", .jvm),
        ("void Prog.<init>()", .jvm),
        ("I2C/C2I adapters", .jvm),
        ("$unwind_erlang:mix/2", .beam),
        ("$global::call_nif_shared", .beam),
        ("$erts_beamasm:normal_exit/0-CodeInfoPrologue", .beam),
        ("$Elixir.App.Worker:handle_call/3", .beam),
        ("Elixir.App.Worker:handle_call/3", .beam),
        ("LazyCompile:*main /app/index.js:1:1", .v8js),
        ("py::loop:/app/spin.py", .cpython),
        // Names of other shapes stay native.
        ("foo(int)", .native),
        ("ns::Class::method(int)", .native),
        ("static MyApp.Server.main() -> ()", .native),
        ("$ 1:2", .native),
        ("$:x", .native),
        ("Prog.fn_alpha(int)", .native),
    ] as [(String, FrameType)])
    func shapes(name: String, type: FrameType) {
        #expect(PerfMap.runtime(ofSymbol: name) == type)
    }

    @Test("A perf map's runtime is the one most of its names' shapes tell", arguments: JITFixture.all)
    func mapRuntime(fixture: JITFixture) {
        #expect(PerfMap(parsing: fixture.perfMapText(base: 0x1000)).runtime == fixture.runtime)
    }

    @Test("A map whose names tell no runtime has none; a tie goes to the first runtime in FrameType's order")
    func mapWithoutRuntime() {
        #expect(PerfMap(parsing: "1000 10 stub_a\n2000 10 stub_b\n").runtime == nil)
        #expect(PerfMap(parsing: "").runtime == nil)
        #expect(PerfMap(parsing: "1000 10 py::f:/a.py\n2000 10 Ljava/lang/String;::hashCode\n").runtime == .jvm)
    }

    @Test("Every perf-map frame, and an unnamed frame in JIT memory, has the type of the process's runtime",
          arguments: JITFixture.all)
    func typedByProcessFiles(fixture: JITFixture) throws {
        let base = JITProcess.jitBase
        let process = try JITProcess(pid: 0x3fff_ff00, executable: fixture.executable,
                                     mappedFiles: [fixture.executable] + (fixture.library.map { [$0] } ?? []),
                                     perfMap: fixture.perfMapText(base: base))
        let stack = (0..<fixture.perfMap.count).map { base + 0x1000 * UInt64($0) + 0x10 } + [base + 0x8_0000]
        let frames = process.frames(stack)
        #expect(frames.dropLast().map(\.functionName) == fixture.perfMap)
        #expect(frames.dropLast().allSatisfy { $0.type == fixture.runtime }, "\(frames.map(\.type))")
        // CPython runs from libpython: anonymous code in its process is someone else's (libffi's).
        let unnamed = try #require(frames.last)
        #expect(unnamed.functionName == nil)
        #expect(unnamed.type == (fixture.runtime == .cpython ? .native : fixture.runtime))
    }

    @Test("Without a telling file, the perf map's shapes decide the runtime of all its frames", arguments: JITFixture.all)
    func typedByPerfMapShapes(fixture: JITFixture) throws {
        let base = JITProcess.jitBase
        let process = try JITProcess(pid: 0x3fff_fe00, executable: "/opt/app/server",
                                     mappedFiles: ["/opt/app/server", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
                                     perfMap: fixture.perfMapText(base: base))
        let frames = process.frames((0..<fixture.perfMap.count).map { base + 0x1000 * UInt64($0) + 0x10 })
        #expect(frames.map(\.type) == Array(repeating: fixture.runtime, count: fixture.perfMap.count))
    }

    @Test("No runtime told by files or names: perf-map and unnamed JIT frames stay native")
    func unknownRuntime() throws {
        let base = JITProcess.jitBase
        let process = try JITProcess(pid: 0x3fff_fd00, executable: "/opt/app/server", mappedFiles: ["/opt/app/server"],
                                     perfMap: "\(String(base, radix: 16)) 100 generated_kernel_1\n")
        #expect(process.frames([base + 0x10, base + 0x5000]) == [
            Frame(type: .native, address: base + 0x10, functionName: "generated_kernel_1"),
            Frame(type: .native, address: base + 0x5000),
        ])
    }

    @Test("A JIT runtime without a perf map still types its anonymous code; a library loaded later is seen")
    func withoutPerfMap() throws {
        let base = JITProcess.jitBase
        // The JDK launcher before libjvm.so is mapped: nothing tells the runtime yet.
        let process = try JITProcess(pid: 0x3fff_fc00, executable: "/opt/jdk/bin/java", mappedFiles: ["/opt/jdk/bin/java"],
                                     perfMap: nil)
        #expect(process.frames([base + 0x10]).map(\.type) == [.native])
        process.symbolizer.apply(.mappings(Mappings(pid: process.pid, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0000_1000, fileOffset: 0, device: 0, inode: 0, path: "/opt/jdk/bin/java"),
            Mapping(start: 0x5556_0000_0000, end: 0x5556_0000_1000, fileOffset: 0, device: 0, inode: 0,
                    path: "/opt/jdk/lib/server/libjvm.so"),
            Mapping(start: base, end: base + 0x10_0000, fileOffset: 0, device: 0, inode: 0, path: ""),
        ])))
        #expect(process.frames([base + 0x10]).map(\.type) == [.jvm])
        // Outside every mapping is no JIT memory the process was seen to have: native.
        #expect(process.frames([0x6000_0000_0000]).map(\.type) == [.native])
    }
}
