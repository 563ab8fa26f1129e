import Testing
#if canImport(Glibc)
import Glibc
#endif
import WireFormat
@testable import SamplerCore

@Suite("parsing /proc and /sys files")
struct ProcParsingTests {
    @Test("stat: comm with spaces and parentheses, parent pid, start time")
    func stat() throws {
        let line = "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 123456 1000 200 18446744073709551615\n"
        let stat = try #require(ProcStat.parse(line))
        #expect(stat.comm == "my (odd) name")
        #expect(stat.parentPID == 17)
        #expect(stat.startTimeTicks == 123456)
        #expect(ProcStat.parse("4242 (cut") == nil)
        #expect(ProcStat.parse("4242 (x) S 1 2") == nil)
    }

    @Test("maps: only executable mappings, with offset, device, inode and path")
    func maps() {
        let text = """
            55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1835017                    /usr/bin/my tool
            55d0c0a01000-55d0c0a05000 r-xp 00001000 fd:01 1835017                    /usr/bin/my tool
            7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0
            7f1e2c400000-7f1e2c600000 --xp 00000000 00:00 0
            7f1e2d028000-7f1e2d1bd000 r-xp 00028000 103:02 2097 /usr/lib/x86_64-linux-gnu/libc.so.6
            7ffd5b3f2000-7ffd5b3f4000 r-xp 00000000 00:00 0                          [vdso]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            garbage line
            """
        let mappings = MapsFile.executableMappings(text)
        #expect(mappings.map(\.path) == ["/usr/bin/my tool", "", "/usr/lib/x86_64-linux-gnu/libc.so.6", "[vdso]", "[vsyscall]"])
        #expect(mappings[0] == Mapping(start: 0x55d0c0a01000, end: 0x55d0c0a05000, fileOffset: 0x1000,
                                       device: MapsFile.makeDevice(major: 0xfd, minor: 1), inode: 1835017,
                                       path: "/usr/bin/my tool"))
        #expect(mappings[2].fileOffset == 0x28000)
        #expect(mappings[2].device == MapsFile.makeDevice(major: 0x103, minor: 2))
    }

    @Test("the PROCMAP_QUERY mappings of a live process equal the parsed text of its maps file")
    func mapQueryMatchesText() throws {
        let pid = getpid()
        let queried = try ProcFileSystem().executableMappings(pid)
        let parsed = MapsFile.executableMappings(try ProcFileSystem.readBytes("/proc/\(pid)/maps"))
        // [vsyscall] is a gate page outside the process's VMAs: only the text lists it.
        #expect(queried == parsed.filter { $0.path != "[vsyscall]" })
        #expect(queried.contains { $0.path.hasSuffix("/libc.so.6") && $0.inode != 0 && $0.device != 0 })
    }

    @Test("makedev matches glibc's encoding")
    func makeDevice() {
        #expect(MapsFile.makeDevice(major: 8, minor: 1) == 0x801)
        #expect(MapsFile.makeDevice(major: 0x103, minor: 2) == 0x10302)
        // Large numbers: the major's high bits go to bits 44+, the minor's to bits 20+.
        #expect(MapsFile.makeDevice(major: 0x1234, minor: 0x567) == 0x0000_1000_0052_3467)
    }

    @Test("cgroup: the unified (v2) path, else the first hierarchy's")
    func cgroup() {
        #expect(CgroupFile.path("0::/system.slice/ssh.service\n") == "/system.slice/ssh.service")
        #expect(CgroupFile.path("12:cpu,cpuacct:/user.slice\n0::/init.scope\n") == "/init.scope")
        #expect(CgroupFile.path("12:cpu,cpuacct:/user.slice\n") == "/user.slice")
        #expect(CgroupFile.path("") == "")
        // A hybrid host: the v2 path is the root, the container is in the v1 hierarchies.
        let id = String(repeating: "ab", count: 32)
        #expect(CgroupFile.path("9:name=systemd:/docker/\(id)\n4:memory:/docker/\(id)\n1:cpu:/\n0::/\n") == "/docker/\(id)")
        #expect(CgroupFile.path("4:memory:/\n0::/\n") == "/")
        #expect(CgroupFile.path("4:memory:/\n") == "/")
    }

    @Test("kallsyms: text symbols only, module names, sorted by address")
    func kallsyms() {
        let text = """
            ffffffff81000000 T _stext
            ffffffff82000000 D some_data
            ffffffff81000100 t helper
            ffffffffc0002000 t mod_fn\t[my_module]
            ffffffff81000080 W weak_fn
            nonsense
            """
        let symbols = KernelSymbolFiles.textSymbols(text)
        #expect(symbols.map(\.name) == ["_stext", "weak_fn", "helper", "mod_fn"])
        #expect(symbols.last?.module == "my_module")
        #expect(symbols.first?.type == UInt8(ascii: "T"))
    }

    @Test("modules: name, size and load address")
    func modules() {
        let text = "nf_tables 380928 0 - Live 0xffffffffc0a00000\nbroken line\n"
        #expect(KernelSymbolFiles.modules(text) == [KernelModule(name: "nf_tables", start: 0xffffffffc0a00000, size: 380928)])
    }

    @Test("CPU lists: ranges and single CPUs", arguments: [
        ("0-1\n", [0, 1]), ("0,2-4,7", [0, 2, 3, 4, 7]), ("3", [3]), ("", []),
    ])
    func cpuLists(text: String, cpus: [Int]) {
        #expect(CPUList.parse(text) == cpus)
    }

    @Test("CPU lists: malformed input is refused", arguments: ["0-", "a", "3-1", "0,,1"])
    func badCPULists(text: String) {
        #expect(CPUList.parse(text) == nil)
    }
}
