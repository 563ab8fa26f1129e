import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization

@Suite("Kernel frames")
struct KernelFrameTests {
    private func symbolizer() -> Symbolizer {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: [
            KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "_stext"),
            KernelSymbol(address: 0xffff_ffff_8100_1000, type: UInt8(ascii: "T"), name: "do_syscall_64"),
            KernelSymbol(address: 0xffff_ffff_8100_1100, type: UInt8(ascii: "t"), name: "entry_SYSCALL_64"),
            KernelSymbol(address: 0xffff_ffff_8100_1080, type: UInt8(ascii: "D"), name: "some_data"),
        ])))
        // A second chunk, with a module's symbols.
        symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: [
            KernelSymbol(address: 0xffff_ffff_c000_0100, type: UInt8(ascii: "t"), name: "ext4_file_read_iter", module: "ext4"),
            KernelSymbol(address: 0xffff_ffff_c000_0400, type: UInt8(ascii: "t"), name: "ext4_readdir", module: "ext4"),
        ])))
        symbolizer.apply(.kernelModules(KernelModules(modules: [
            KernelModule(name: "ext4", start: 0xffff_ffff_c000_0000, size: 0x1000),
            KernelModule(name: "nosyms", start: 0xffff_ffff_c001_0000, size: 0x1000),
        ])))
        return symbolizer
    }

    private func frames(_ symbolizer: Symbolizer, _ stack: [UInt64], id: UInt64 = 0) -> [Frame] {
        symbolizer.symbolize(Sample(time: 1, pid: 0, tid: 0, cpu: 0, kernelStackID: id, kernelStack: stack, userStack: [])).frames
    }

    @Test("Core kernel and module symbols, with the module in mappingPath")
    func lookup() {
        let symbolizer = symbolizer()
        let result = frames(symbolizer, [0xffff_ffff_8100_1090, 0xffff_ffff_c000_0150, 0xffff_ffff_c000_0450,
                                         0xffff_ffff_c001_0010])
        #expect(result.map(\.functionName) == ["do_syscall_64", "ext4_file_read_iter", "ext4_readdir", nil])
        #expect(result.map(\.mappingPath) == [nil, "[ext4]", "[ext4]", "[nosyms]"])
        #expect(result.allSatisfy { $0.type == .kernel })
        #expect(result[3].displayName == "[nosyms]+0xffffffffc0010010")
    }

    @Test("Return addresses in kernel stacks are looked up one byte earlier")
    func returnAddress() {
        let symbolizer = symbolizer()
        // 0x…1100 starts entry_SYSCALL_64; as a return address it is the end of do_syscall_64.
        #expect(frames(symbolizer, [0xffff_ffff_8100_1100, 0xffff_ffff_8100_1100]).map(\.functionName)
                == ["entry_SYSCALL_64", "do_syscall_64"])
    }

    @Test("This machine's /proc/kallsyms, streamed in chunks: text symbols map back to their own address")
    func realKallsyms() throws {
        var symbols: [KernelSymbol] = []
        for line in try readProcFile("/proc/kallsyms").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16), let type = fields[1].utf8.first else { continue }
            let module = fields.count > 3 ? String(fields[3].dropFirst().dropLast()) : ""
            symbols.append(KernelSymbol(address: address, type: type, name: String(fields[2]), module: module))
        }
        let text = symbols.filter { "tTwW".utf8.contains($0.type) && $0.address != 0 }
        try #require(text.count > 1000, "kallsyms unreadable or addresses hidden (kptr_restrict)")
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        // Chunks sorted within themselves, as the sampler sends them.
        let shuffled = symbols.sorted { $0.name < $1.name }
        for start in stride(from: 0, to: shuffled.count, by: 10_000) {
            let chunk = shuffled[start..<min(start + 10_000, shuffled.count)].sorted { $0.address < $1.address }
            symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: Array(chunk))))
        }
        var namesByAddress: [UInt64: Set<String>] = [:]
        for symbol in text { namesByAddress[symbol.address, default: []].insert(symbol.name) }
        let probes = stride(from: 0, to: text.count, by: max(1, text.count / 2000)).map { text[$0] }
        for probe in probes {
            let leaf = frames(symbolizer, [probe.address])[0]
            #expect(namesByAddress[probe.address]?.contains(leaf.functionName ?? "") == true, "\(probe.name)")
        }
    }

    @Test("resetInterning drops cached stacks but keeps the stream's kernel symbols")
    func reset() {
        let symbolizer = symbolizer()
        #expect(frames(symbolizer, [0xffff_ffff_8100_1010], id: 5)[0].functionName == "do_syscall_64")
        symbolizer.apply(.resetInterning)
        // Id 5 now names another stack; the symbols sent at the start still apply.
        let after = frames(symbolizer, [0xffff_ffff_8100_0010], id: 5)[0].functionName
        #expect(after != nil)
        #expect(after != "do_syscall_64")
        #expect(frames(symbolizer, [0xffff_ffff_8100_1010], id: 6)[0].functionName == "do_syscall_64")
    }
}

@Suite("JIT frames from perf maps")
struct PerfMapTests {
    @Test("Runtime of perf-map symbols", arguments: [
        ("JS:~handleRequest /app/server.js:10:5", FrameType.v8js),
        ("LazyCompile:*main file:///app/index.mjs:1:1", .v8js),
        ("Builtin:ArrayPrototypePush", .v8js),
        ("Function:~<anonymous> node:internal/main:1:1", .v8js),
        ("Ljava/lang/String;::hashCode", .jvm),
        ("Interpreter", .jvm),
        ("java.util.HashMap::get", .jvm),
        ("py::fibonacci:/app/fib.py", .cpython),
        ("void [System.Private.CoreLib] System.Threading.Thread::StartCallback()[OptimizedTier1]", .dotnet),
        ("instance int32 [App] App.Program::Work()[PreJIT]", .dotnet),
        ("[QuickJitted] stub", .native),
        ("some_jit_function", .native),
    ])
    func runtime(name: String, type: FrameType) {
        #expect(PerfMap.runtime(ofSymbol: name) == type)
    }

    @Test("Parsing: hex with and without 0x, names with spaces, malformed lines counted")
    func parse() {
        let map = PerfMap(parsing: """
            7f0000001000 40 JS:~foo /app/a.js:1:1
            0x7f0000002000 0x10 py::bar:/app/b.py
            garbage line
            7f0000003000 zz bad
            7f0000000800 100 Builtin:Baz

            """)
        #expect(map.count == 3)
        #expect(map.malformedLines == 2)
        #expect(map.lookup(0x7f00_0000_1020)?.name == "JS:~foo /app/a.js:1:1")
        #expect(map.lookup(0x7f00_0000_1040) == nil)
        #expect(map.lookup(0x7f00_0000_200f)?.type == .cpython)
        #expect(map.lookup(0x7f00_0000_0880)?.name == "Builtin:Baz")
        #expect(map.lookup(0x7f00_0000_0700) == nil)
    }

    @Test("Anonymous executable memory is named from /tmp/perf-PID.map; without an entry it stays 0x…, node's code still")
    func symbolizer() throws {
        let directory = try TemporaryDirectory()
        let pid: Int32 = 0x3fff_ffe0
        try "7f0000001000 100 JS:*render /app/ui.js:3:7\n"
            .write(toFile: directory.file("perf-\(pid).map"), atomically: true, encoding: .utf8)
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], perfMapDirectory: directory.path), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "node",
                                                         executablePath: "/usr/bin/node", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [
            Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0001_0000, fileOffset: 0, device: 0, inode: 0, path: ""),
        ])))
        let frames = symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStack: [],
                                                 userStack: [0x7f00_0000_1010, 0x7f00_0000_9000])).frames
        #expect(frames[0] == Frame(type: .v8js, address: 0x7f00_0000_1010, functionName: "JS:*render /app/ui.js:3:7"))
        #expect(frames[1] == Frame(type: .v8js, address: 0x7f00_0000_9000))
        #expect(frames[1].displayName == "0x7f0000009000")
        #expect(symbolizer.statistics.perfMapsLoaded == 1)
    }
}

extension PerfMapTests {
    @Test("A JIT frame missing from the perf map is looked up again once the JIT has written it")
    func perfMapGrows() throws {
        let directory = try TemporaryDirectory()
        let pid: Int32 = 0x3fff_ffd0
        let path = directory.file("perf-\(pid).map")
        try "7f0000001000 100 py::first:/app/a.py\n".write(toFile: path, atomically: true, encoding: .utf8)
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], perfMapDirectory: directory.path,
                                                   perfMapRefreshInterval: .zero), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "python3",
                                                         executablePath: "/usr/bin/python3", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [
            Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0001_0000, fileOffset: 0, device: 0, inode: 0, path: ""),
        ])))
        let sample = Sample(time: 1, pid: pid, tid: pid, cpu: 0, userStackID: 9, kernelStack: [],
                            userStack: [0x7f00_0000_2010, 0x7f00_0000_1010])
        #expect(symbolizer.symbolize(sample).frames.map(\.functionName) == [nil, "py::first:/app/a.py"])
        try "7f0000001000 100 py::first:/app/a.py\n7f0000002000 100 py::second:/app/a.py\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(symbolizer.symbolize(sample).frames.map(\.functionName) == ["py::second:/app/a.py", "py::first:/app/a.py"])
        #expect(symbolizer.symbolize(sample).frames.map(\.type) == [.cpython, .cpython])
    }
}

@Suite("Process table")
struct ProcessTableTests {
    @Test("Container ids from cgroup paths", arguments: [
        ("0::/system.slice/docker-3f2a1b5c9d8e7f60123456789abcdef0123456789abcdef0123456789abcdef0.scope",
         "3f2a1b5c9d8e7f60123456789abcdef0123456789abcdef0123456789abcdef0"),
        ("/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-aaaabbbbccccddddeeeeffff00001111222233334444555566667777888899990000.scope",
         nil),
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999.scope",
         "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"),
        ("/kubepods/burstable/pod7f3e1c4a-1234-5678-9abc-def012345678/fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
         "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"),
        ("/machine.slice/libpod-1111111111111111111111111111111111111111111111111111111111111111.scope/container",
         "1111111111111111111111111111111111111111111111111111111111111111"),
        ("/machine.slice/libpod-conmon-1111111111111111111111111111111111111111111111111111111111111111.scope", nil),
        ("/kubepods.slice/kubepods-pod1.slice/crio-2222222222222222222222222222222222222222222222222222222222222222.scope",
         "2222222222222222222222222222222222222222222222222222222222222222"),
        // CRI-O with the cgroupfs driver, and its systemd scope's `container` child; its monitor is not the container.
        ("/kubepods/burstable/pod7f3e1c4a-1234-5678-9abc-def012345678/crio-3333333333333333333333333333333333333333333333333333333333333333",
         "3333333333333333333333333333333333333333333333333333333333333333"),
        ("/kubepods.slice/kubepods-pod1.slice/crio-4444444444444444444444444444444444444444444444444444444444444444.scope/container",
         "4444444444444444444444444444444444444444444444444444444444444444"),
        ("/machine.slice/crio-conmon-4444444444444444444444444444444444444444444444444444444444444444.scope", nil),
        // Rootless Docker under a user's manager (systemd driver).
        ("/user.slice/user-1000.slice/user@1000.service/user.slice/docker-5555555555555555555555555555555555555555555555555555555555555555.scope",
         "5555555555555555555555555555555555555555555555555555555555555555"),
        // A container's own services below its id (systemd inside a Docker container).
        ("/system.slice/docker-6666666666666666666666666666666666666666666666666666666666666666.scope/system.slice/cron.service",
         "6666666666666666666666666666666666666666666666666666666666666666"),
        ("/user.slice/user-1000.slice/session-2.scope", nil),
        ("/machine.slice/machine-web\\x2d1.scope/payload/system.slice/nginx.service", "web-1"),
        ("/machine.slice/systemd-nspawn@build.service/payload", "build"),
        ("/machine.slice/machine-.scope", nil),
        ("/machine.slice", nil),
        ("/", nil),
        ("", nil),
    ] as [(String, String?)])
    func containerID(path: String, expected: String?) {
        #expect(ContainerID.parse(cgroupPath: path) == expected)
    }

    @Test("k8s.pod.uid from the kubelet's pod cgroup, in both cgroup drivers' shapes", arguments: [
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3e1c4a_1234_5678_9abc_def012345678.slice/cri-containerd-\(String(repeating: "ab", count: 32)).scope",
         "7f3e1c4a-1234-5678-9abc-def012345678"),
        ("/kubepods/besteffort/pod7F3E1C4A-1234-5678-9ABC-DEF012345678/\(String(repeating: "cd", count: 32))",
         "7f3e1c4a-1234-5678-9abc-def012345678"),
        ("/kubepods.slice/kubepods-pod12.slice", nil),
        ("/system.slice/pod7f3e1c4a-1234-5678-9abc-def012345678.service", nil),
        ("", nil),
    ] as [(String, String?)])
    func kubernetesPodUID(path: String, expected: String?) {
        #expect(KubernetesPodUID.parse(cgroupPath: path) == expected)
    }

    @Test("service.name is the innermost systemd service of the cgroup path, never a user manager or a container's host unit",
          arguments: [
        ("/system.slice/nginx.service", "nginx"),
        ("0::/system.slice/ssh.service", "ssh"),
        ("/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service", "pipewire"),
        ("/user.slice/user-1000.slice/user@1000.service/init.scope", nil),
        ("/user.slice/user-1000.slice/session-2.scope", nil),
        ("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", nil),
        ("/system.slice/.service", nil),
        ("/", nil),
        ("", nil),
    ] as [(String, String?)])
    func systemdServiceName(path: String, expected: String?) {
        #expect(SystemdServiceName.parse(cgroupPath: path) == expected)
    }

    @Test("Process records become identities; unknown pids are counted; exec replaces the address space")
    func identities() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        let id = String(repeating: "ab", count: 32)
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 42, parentPID: 1, startTime: 5, comm: "server",
                                                         executablePath: "/usr/bin/server",
                                                         cgroupPath: "/system.slice/docker-\(id).scope")))
        #expect(symbolizer.process(42) == ProcessIdentity(pid: 42, comm: "server", executablePath: "/usr/bin/server",
                                                          containerID: id))
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 50, parentPID: 1, startTime: 5, comm: "nginx",
                                                         executablePath: "/usr/sbin/nginx",
                                                         cgroupPath: "/system.slice/nginx.service")))
        #expect(symbolizer.process(50)?.serviceName == "nginx" && symbolizer.process(50)?.containerID == nil)
        #expect(symbolizer.process(43) == nil)
        let unknown = symbolizer.symbolize(Sample(time: 1, pid: 43, tid: 44, cpu: 2, kernelStack: [], userStack: [0x1000]))
        #expect(unknown.process == ProcessIdentity(pid: 43, comm: "pid 43"))
        #expect(unknown.frames == [Frame(type: .native, address: 0x1000)])
        #expect(unknown.threadID == 44 && unknown.cpu == 2 && unknown.timestamps == [1])
        #expect(symbolizer.statistics.unknownProcessSamples == 1)

        // Mappings, then exec: the old mappings are gone until new ones arrive.
        symbolizer.apply(.mappings(Mappings(pid: 42, mappings: [
            Mapping(start: 0x1000, end: 0x2000, fileOffset: 0, device: 0, inode: 0, path: "/nonexistent/server"),
        ])))
        let before = symbolizer.symbolize(Sample(time: 1, pid: 42, tid: 42, cpu: 0, userStackID: 1, kernelStack: [], userStack: [0x1010]))
        #expect(before.frames[0].mappingPath == "/nonexistent/server")
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 42, parentPID: 1, startTime: 5, comm: "other",
                                                         executablePath: "/usr/bin/other", cgroupPath: "/", isExec: true)))
        let after = symbolizer.symbolize(Sample(time: 2, pid: 42, tid: 42, cpu: 0, userStackID: 1, kernelStack: [], userStack: [0x1010]))
        #expect(after.frames[0].mappingPath == nil)
        #expect(after.process.comm == "other")
        #expect(after.process.containerID == nil)

        // After exit, the state is kept for late samples (within the retention).
        symbolizer.apply(.processExit(ProcessExit(pid: 42, time: 3)))
        #expect(symbolizer.process(42)?.comm == "other")
    }

    @Test("A process record with another start time is a new process (pid reused, exit not seen)")
    func pidReuse() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 50, parentPID: 1, startTime: 100, comm: "old",
                                                         executablePath: "/bin/old", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: 50, mappings: [
            Mapping(start: 0x1000, end: 0x2000, fileOffset: 0, device: 0, inode: 0, path: "/nonexistent/old"),
        ])))
        // The same process described again (after a reconnection): mappings stay.
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 50, parentPID: 1, startTime: 100, comm: "old",
                                                         executablePath: "/bin/old", cgroupPath: "/")))
        let sample = Sample(time: 1, pid: 50, tid: 50, cpu: 0, kernelStack: [], userStack: [0x1010])
        #expect(symbolizer.symbolize(sample).frames[0].mappingPath == "/nonexistent/old")
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: 50, parentPID: 1, startTime: 200, comm: "new",
                                                         executablePath: "/bin/new", cgroupPath: "/")))
        let after = symbolizer.symbolize(sample)
        #expect(after.frames[0].mappingPath == nil)
        #expect(after.process.comm == "new")
    }

    @Test("Exited processes beyond the retention are forgotten")
    func retention() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], exitedProcessRetention: 2), logger: testLogger())
        for pid: Int32 in 100..<105 {
            symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "p\(pid)",
                                                             executablePath: "", cgroupPath: "")))
            symbolizer.apply(.processExit(ProcessExit(pid: pid, time: 1)))
        }
        #expect((100..<105).map { symbolizer.process($0) != nil } == [false, false, false, true, true])
    }

    @Test("Kernel frames come before user frames, leaf first")
    func ordering() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: [
            KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "schedule"),
        ])))
        let sample = symbolizer.symbolize(Sample(time: 1, pid: 7, tid: 7, cpu: 0, kernelStack: [0xffff_ffff_8100_0010],
                                                 userStack: [0x1000, 0x2000], flags: .userStackTruncated))
        #expect(sample.frames.map(\.type) == [.kernel, .native, .native])
        #expect(sample.frames.map(\.address) == [0xffff_ffff_8100_0010, 0x1000, 0x2000])
        #expect(sample.userStackTruncated)
    }
}
