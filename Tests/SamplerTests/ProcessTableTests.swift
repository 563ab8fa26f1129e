import Foundation
import Testing
import WireFormat
@testable import SamplerCore

/// A /proc of our own: one directory per fake process.
struct FakeProc {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fake-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func addProcess(pid: Int32, parent: Int32, comm: String, exe: String, maps: String) throws {
        let directory = root.appendingPathComponent("\(pid)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stat = "\(pid) (\(comm)) S \(parent) \(pid) \(pid) 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0\n"
        try stat.write(to: directory.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try "\(comm)\n".write(to: directory.appendingPathComponent("comm"), atomically: true, encoding: .utf8)
        try "0::/tandem.slice\n".write(to: directory.appendingPathComponent("cgroup"), atomically: true, encoding: .utf8)
        try setMaps(pid: pid, maps)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("exe").path,
                                                   withDestinationPath: exe)
    }

    func setMaps(pid: Int32, _ maps: String) throws {
        try maps.write(to: root.appendingPathComponent("\(pid)/maps"), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

@Suite("process table")
struct ProcessTableTests {
    static let maps = "1000-2000 r-xp 00000000 08:01 11 /bin/app\n5000-6000 r-xp 00002000 08:01 12 /lib/libc.so\n"

    @Test("learns a process from /proc: comm, parent, exe, cgroup, executable mappings")
    func learn() throws {
        let proc = try FakeProc()
        defer { proc.remove() }
        try proc.addProcess(pid: 42, parent: 1, comm: "app", exe: "/bin/app", maps: Self.maps)
        var table = ProcessTable(procfs: ProcFileSystem(root: proc.root.path))
        let learned = table.learn(42, comm: "ignored", execTime: 0, now: 0)
        #expect(!learned.readFailed)
        #expect(learned.process.comm == "app")
        #expect(learned.process.parentPID == 1)
        #expect(learned.process.executablePath == "/bin/app")
        #expect(learned.process.cgroupPath == "/tandem.slice")
        #expect(learned.process.isExec)
        #expect(learned.process.startTime == ClockTicks.nanoseconds(500))
        #expect(learned.mappings.mappings.map(\.path) == ["/bin/app", "/lib/libc.so"])
        #expect(try ProcFileSystem(root: proc.root.path).processIDs() == [42])
    }

    @Test("a process gone before the read is kept with the comm the event carried")
    func vanished() {
        var table = ProcessTable(procfs: ProcFileSystem(root: "/nonexistent-proc"))
        let learned = table.learn(7, comm: "true", execTime: 0, now: 0)
        #expect(learned.readFailed)
        #expect(learned.process.comm == "true")
        #expect(learned.mappings.mappings.isEmpty)
        #expect(table.contains(7))
    }

    @Test("covers: addresses inside and outside the executable mappings")
    func covers() throws {
        let proc = try FakeProc()
        defer { proc.remove() }
        try proc.addProcess(pid: 42, parent: 1, comm: "app", exe: "/bin/app", maps: Self.maps)
        var table = ProcessTable(procfs: ProcFileSystem(root: proc.root.path))
        _ = table.learn(42, comm: "", execTime: nil, now: 0)
        let entry = try #require(table[42])
        #expect(entry.covers(0x1000))
        #expect(entry.covers(0x1fff))
        #expect(!entry.covers(0x2000))
        #expect(!entry.covers(0xfff))
        #expect(entry.covers(0x5800))
        #expect(!entry.covers(0x7000))
    }

    @Test("mappings are re-read at most once per interval, and only reported when changed")
    func refreshIsRateLimited() throws {
        let proc = try FakeProc()
        defer { proc.remove() }
        try proc.addProcess(pid: 42, parent: 1, comm: "app", exe: "/bin/app", maps: Self.maps)
        var table = ProcessTable(procfs: ProcFileSystem(root: proc.root.path), mappingsRefreshInterval: 1_000)
        _ = table.learn(42, comm: "", execTime: nil, now: 10_000)
        try proc.setMaps(pid: 42, Self.maps + "9000-9800 r-xp 00000000 08:01 13 /tmp/late.so\n")
        let early = table.refreshMappings(42, now: 10_500)
        #expect(early == nil, "too early")
        let due = table.refreshMappings(42, now: 11_000)
        let refreshed = try #require(due)
        #expect(refreshed.mappings.last?.path == "/tmp/late.so")
        #expect(table[42]?.covers(0x9000) == true)
        let unchanged = table.refreshMappings(42, now: 12_500)
        #expect(unchanged == nil, "unchanged")
        let unknown = table.refreshMappings(43, now: 12_500)
        #expect(unknown == nil, "unknown pid")
    }

    @Test("a process read in its first moments is re-read after as long as it had run (10 ms at least), others after the interval")
    func youngProcessIsReadAgainSoon() throws {
        let proc = try FakeProc()
        defer { proc.remove() }
        let millisecond: UInt64 = 1_000_000
        let exec = 5_000 * millisecond
        for pid: Int32 in [42, 43, 44] { try proc.addProcess(pid: pid, parent: 1, comm: "app", exe: "/bin/app", maps: Self.maps) }
        var table = ProcessTable(procfs: ProcFileSystem(root: proc.root.path), mappingsRefreshInterval: 1_000 * millisecond)
        // 42: read 2 ms after its exec, while ld.so (or opcache) was still mapping.
        _ = table.learn(42, comm: "", execTime: exec, now: exec + 2 * millisecond)
        // 43: read 3 s after its exec; 44: no exec seen (there at the sampler's start).
        _ = table.learn(43, comm: "", execTime: exec, now: exec + 3_000 * millisecond)
        _ = table.learn(44, comm: "", execTime: nil, now: exec + 2 * millisecond)
        let late = Self.maps + "9000-9800 r-xp 00000000 08:01 13 /tmp/late.so\n"
        for pid: Int32 in [42, 43, 44] { try proc.setMaps(pid: pid, late) }

        #expect(table.refreshMappings(42, now: exec + 11 * millisecond) == nil, "9 ms after the read: under 10 ms")
        #expect(table.refreshMappings(42, now: exec + 12 * millisecond)?.mappings.last?.path == "/tmp/late.so")
        // Read again at 12 ms of age: the next read is 12 ms on, not 10.
        try proc.setMaps(pid: 42, late + "a000-a800 r-xp 00000000 08:01 14 /tmp/later.so\n")
        #expect(table.refreshMappings(42, now: exec + 23 * millisecond) == nil)
        #expect(table.refreshMappings(42, now: exec + 24 * millisecond)?.mappings.last?.path == "/tmp/later.so")

        #expect(table.refreshMappings(43, now: exec + 3_999 * millisecond) == nil, "old at its read: the whole interval")
        #expect(table.refreshMappings(43, now: exec + 4_000 * millisecond) != nil)
        #expect(table.refreshMappings(44, now: exec + 1_001 * millisecond) == nil, "no exec seen: the whole interval")
        #expect(table.refreshMappings(44, now: exec + 1_002 * millisecond) != nil)
    }

    @Test("exit frees the entry; the snapshot describes every live process in pid order")
    func removeAndSnapshot() throws {
        let proc = try FakeProc()
        defer { proc.remove() }
        for pid: Int32 in [30, 10, 20] {
            try proc.addProcess(pid: pid, parent: 1, comm: "p\(pid)", exe: "/bin/p", maps: Self.maps)
        }
        var table = ProcessTable(procfs: ProcFileSystem(root: proc.root.path))
        for pid: Int32 in [30, 10, 20] { _ = table.learn(pid, comm: "", execTime: 0, now: 0) }
        let removed = table.remove(20), removedAgain = table.remove(20)
        #expect(removed)
        #expect(!removedAgain)
        let snapshot = table.snapshot()
        #expect(snapshot.count == 4)
        guard case .process(let first) = snapshot[0], case .mappings(let firstMappings) = snapshot[1],
              case .process(let second) = snapshot[2] else {
            Issue.record("unexpected snapshot \(snapshot)")
            return
        }
        #expect(first.pid == 10 && !first.isExec)
        #expect(firstMappings.pid == 10)
        #expect(second.pid == 30)
    }
}
