import Dispatch
import Foundation
import Profiles
import Synchronization
import Testing
import WireFormat
@testable import Symbolization
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a thread of its own and waits for it at most `seconds`: a liveness
/// check, not a timing assertion (the work takes milliseconds; a blocking open of a FIFO
/// never returns). When it does not return, a writer opens and closes each of `fifos`, so
/// the stuck open ends and the thread with it; the result is then nil.
func returnsWithin<T: Sendable>(seconds: Int = 60, unblocking fifos: [String],
                                _ body: @escaping @Sendable () -> T) -> T? {
    let result = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let value = body()
        result.value.withLock { $0 = value }
        done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + .seconds(seconds)) == .success { return result.value.withLock { $0 } }
    for fifo in fifos {
        let fd = open(fifo, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
    }
    _ = done.wait(timeout: .now() + .seconds(seconds))
    return nil
}

/// Where `returnsWithin`'s thread leaves its result.
final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

/// A FIFO at `path` (`mkfifo`); its inode.
@discardableResult
func makeFIFO(_ path: String) throws -> UInt64 {
    guard mkfifo(path, 0o644) == 0 else { throw CommandFailure(command: ["mkfifo", path], status: errno, output: "") }
    var status = stat()
    guard stat(path, &status) == 0 else { throw CommandFailure(command: ["stat", path], status: errno, output: "") }
    return UInt64(status.st_ino)
}

private func inode(of path: String) throws -> (device: UInt64, inode: UInt64) {
    var status = stat()
    guard stat(path, &status) == 0 else { throw CommandFailure(command: ["stat", path], status: errno, output: "") }
    return (UInt64(status.st_dev), UInt64(status.st_ino))
}

/// What a symbolizer made of one sample, and what it reported.
private struct Outcome: Sendable {
    var frames: [Frame]
    var statistics: SymbolizerStatistics
}

/// A pid above `pid_max`: no /proc entry, so paths are used as they are.
private let plantedPID: Int32 = 0x3fff_ff10

/// Symbolizes one sample of process `plantedPID` with `mappings`, on a thread of its own,
/// bounded by `returnsWithin`.
private func symbolizeOnce(mappings: [Mapping], stack: [UInt64], options: SymbolizerOptions, log: LogRecorder,
                           fifos: [String]) -> Outcome? {
    let logger = log.logger
    return returnsWithin(unblocking: fifos) {
        let pid = plantedPID
        let symbolizer = Symbolizer(options: options, logger: logger)
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "planted",
                                                         executablePath: "/bin/planted", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: mappings)))
        let frames = symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: stack)).frames
        return Outcome(frames: frames, statistics: symbolizer.statistics)
    }
}

@Suite("Files planted by another user: FIFOs, symlinks to them, pseudo-files")
struct UntrustedFileTests {
    @Test("OpenFile.open refuses a FIFO without waiting for a writer, and names what it is")
    func openFile() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("fifo")
        try makeFIFO(fifo)
        let result = returnsWithin(unblocking: [fifo]) { () -> String in
            switch OpenFile.open(fifo) {
            case .success: "opened"
            case .failure(let error): error.description
            }
        }
        let description = try #require(result, "OpenFile.open of a FIFO did not return: it blocks")
        #expect(description.contains("\(fifo) is a FIFO, not a regular file"))
        #expect(description.contains("remove it"))
    }

    @Test("OpenFile.open never reopens the O_PATH descriptor of a FIFO: the type is checked first")
    func fifoIsNeverReopened() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("fifo")
        try makeFIFO(fifo)
        let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(watch >= 0)
        defer { close(watch) }
        try #require(inotify_add_watch(watch, fifo, UInt32(IN_OPEN)) >= 0, "inotify_add_watch: errno \(errno)")

        // A reopen for reading with O_NONBLOCK would return at once, so only inotify tells.
        guard case .failure(.notRegularFile(let path, let type)) = OpenFile.open(fifo) else {
            Issue.record("a FIFO was not refused as one")
            return
        }
        #expect(path == fifo && type.description == "a FIFO")
        var events = [UInt8](repeating: 0, count: 4096)
        let count = events.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
        #expect(count < 0 && errno == EAGAIN, "the FIFO was opened (inotify saw IN_OPEN)")
    }

    @Test("OpenFile.open never opens a device, even behind a symlink: it is refused from O_PATH's fstat")
    func deviceBehindASymlinkIsNeverOpened() throws {
        let directory = try TemporaryDirectory()
        // A node of its own (the null device's numbers, 1:3), so no other process's opens are seen.
        let device = directory.file("null")
        try #require(mknod(device, S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0, "mknod(\(device)): errno \(errno); this test runs as root")
        let link = directory.file("libdevice.so")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: device)
        let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(watch >= 0)
        defer { close(watch) }
        try #require(inotify_add_watch(watch, device, UInt32(IN_OPEN)) >= 0, "inotify_add_watch: errno \(errno)")

        guard case .failure(let error) = OpenFile.open(link) else {
            Issue.record("a character device was opened as a file")
            return
        }
        #expect(error.description.contains("\(link) is a character device, not a regular file"))
        // An open reports IN_OPEN even when closed at once; an O_PATH descriptor reports nothing.
        var events = [UInt8](repeating: 0, count: 4096)
        let count = events.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
        #expect(count < 0 && errno == EAGAIN, "the device was opened (inotify saw IN_OPEN)")
    }

    @Test("A stream naming many unreadable files: every one counted, the log bounded")
    func manyUnreadableFilesLogABoundedNumberOfLines() throws {
        let count = 200
        let mappings = (0..<count).map { index in
            Mapping(start: 0x7f00_0000_0000 + UInt64(index) << 20, end: 0x7f00_0000_4000 + UInt64(index) << 20,
                    fileOffset: 0, device: 1, inode: UInt64(index + 1), path: "/nonexistent/tandem/lib\(index).so")
        }
        let log = LogRecorder()
        let outcome = try #require(symbolizeOnce(mappings: mappings, stack: mappings.map { $0.start + 0x10 },
                                                 options: .init(debugDirectories: []), log: log, fifos: []))
        #expect(outcome.statistics.fileFailures == count)
        let warnings = log.entries.filter { $0.level == .warning }
        // 32 in full, then at most one per interval (the test takes well under one).
        #expect(warnings.count >= 32 && warnings.count <= 34, "\(warnings.count) warnings for \(count) unreadable files")
    }

    @Test("A FIFO at a mapped path, a symlink to one, or at the path of a deleted file: file+offset frames and a reason",
          arguments: ["fifo", "symlink", "deleted"])
    func mappedFIFO(kind: String) throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("libplanted.so")
        let fifoInode = try makeFIFO(fifo)
        var path = fifo
        switch kind {
        case "symlink":
            path = directory.file("liblink.so")
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: fifo)
        case "deleted":
            path = fifo + " (deleted)"
        default:
            break
        }
        let mapping = Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0000_4000, fileOffset: 0x1000,
                              device: 0, inode: fifoInode, path: path)
        let log = LogRecorder()
        let outcome = try #require(symbolizeOnce(mappings: [mapping], stack: [0x7f00_0000_0010],
                                                 options: .init(debugDirectories: []), log: log, fifos: [fifo]),
                                   "symbolizing a mapping of a FIFO did not return: the open blocks")
        #expect(outcome.frames == [Frame(type: .native, address: 0x7f00_0000_0010, mappingPath: path, fileOffset: 0x1010)])
        #expect(outcome.statistics.fileFailures == 1)
        let failure = try #require(outcome.statistics.recentFileFailures.first)
        #expect(failure.path == path)
        #expect(failure.reason.contains("is a FIFO, not a regular file"))
        #expect(log.entries.contains { $0.level == .warning && $0.metadata["reason"]?.description == failure.reason })
    }

    @Test("A FIFO at /tmp/perf-PID.map: JIT frames stay 0x…, the map is reported unreadable once")
    func perfMapFIFO() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("perf-\(plantedPID).map")
        try makeFIFO(fifo)
        let log = LogRecorder()
        let anonymous = Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0001_0000, fileOffset: 0, device: 0, inode: 0, path: "")
        let outcome = try #require(symbolizeOnce(mappings: [anonymous], stack: [0x7f00_0000_1010],
                                                 options: .init(debugDirectories: [], perfMapDirectory: directory.path,
                                                                perfMapRefreshInterval: .zero),
                                                 log: log, fifos: [fifo]),
                                   "reading a perf map that is a FIFO did not return: the open blocks")
        #expect(outcome.frames == [Frame(type: .native, address: 0x7f00_0000_1010)])
        #expect(outcome.statistics.perfMapsLoaded == 0)
        #expect(outcome.statistics.perfMapFailures == 1)
        let failure = try #require(outcome.statistics.recentFileFailures.first)
        #expect(failure.path == fifo)
        #expect(failure.reason.contains("is a FIFO, not a regular file"))
        #expect(log.entries.filter { $0.level == .warning }.count == 1)
    }

    @Test("A FIFO where a debug file is looked for (build id, .gnu_debuglink): a warning, the file's own symbols are used",
          arguments: ["buildID", "debugLink"])
    func debugFileFIFO(lookup: String) throws {
        let fixture = try CFixture()
        let debugRoot = fixture.directory.file("debug")
        let fifo: String
        if lookup == "buildID" {
            let buildID = try CFixture.buildID(fixture.library)
            let buildIDDirectory = "\(debugRoot)/.build-id/\(buildID.prefix(2))"
            try FileManager.default.createDirectory(atPath: buildIDDirectory, withIntermediateDirectories: true)
            fifo = "\(buildIDDirectory)/\(buildID.dropFirst(2)).debug"
            try run(["strip", "--strip-all", fixture.library])
        } else {
            // The link needs the debug file to exist when it is added; then a FIFO takes its place.
            fifo = fixture.directory.file("libtandemfixture.debug")
            try run(["objcopy", "--only-keep-debug", fixture.library, fifo])
            try run(["strip", "--strip-all", "--remove-section=.note.gnu.build-id", fixture.library])
            try run(["objcopy", "--add-gnu-debuglink=\(fifo)", fixture.library])
            try FileManager.default.removeItem(atPath: fifo)
        }
        try makeFIFO(fifo)
        let (device, inode) = try inode(of: fixture.library)
        let mapping = Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0001_0000, fileOffset: 0,
                              device: device, inode: inode, path: fixture.library)
        let log = LogRecorder()
        let outcome = try #require(symbolizeOnce(mappings: [mapping], stack: [0x7f00_0000_0010],
                                                 options: .init(debugDirectories: [debugRoot]), log: log, fifos: [fifo]),
                                   "looking for a debug file that is a FIFO did not return: the open blocks")
        #expect(outcome.frames.count == 1)
        #expect(outcome.statistics.filesLoaded == 1)
        #expect(outcome.statistics.filesBySymbolSource[.dynamicSymbols] == 1)
        #expect(outcome.statistics.debugInfoWarnings == 1)
        #expect(log.entries.contains {
            $0.metadata["file"]?.description == fifo
                && $0.metadata["reason"]?.description.contains("is a FIFO, not a regular file") == true
        })
    }

    @Test("Mappings without an inode, and mapped paths into /proc, /sys or /dev, are never opened; their frames stay",
          arguments: [("/proc/self/mem", 0), ("/proc/self/environ", 0), ("/proc/self/environ", 4026531840),
                      ("/sys/kernel/notes", 7), ("/dev/zero (deleted)", 5), ("/tmp/../proc/self/environ", 9),
                      ("/usr/bin/true", 0)] as [(String, UInt64)])
    func pseudoFiles(path: String, inode: UInt64) throws {
        let mapping = Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0000_4000, fileOffset: 0, device: 0, inode: inode, path: path)
        let outcome = try #require(symbolizeOnce(mappings: [mapping], stack: [0x7f00_0000_0010],
                                                 options: .init(debugDirectories: []), log: LogRecorder(), fifos: []))
        #expect(outcome.frames == [Frame(type: .native, address: 0x7f00_0000_0010, mappingPath: path, fileOffset: 0x10)])
        #expect(outcome.statistics.fileFailures == 1)
        let failure = try #require(outcome.statistics.recentFileFailures.first)
        // Refused before any open: no call failed, nothing was parsed.
        #expect(failure.reason.hasSuffix("not opened"))
        #expect(MappedFilePath.refusal(path: path.replacingOccurrences(of: " (deleted)", with: ""), inode: inode) != nil)
    }

    @Test("Ordinary mapped paths pass the path check")
    func ordinaryPaths() {
        #expect(MappedFilePath.refusal(path: "/usr/lib/x86_64-linux-gnu/libc.so.6", inode: 42) == nil)
        #expect(MappedFilePath.refusal(path: "/opt/procedures/bin/app", inode: 42) == nil)
        #expect(MappedFilePath.refusal(path: "/devtools/bin/app", inode: 42) == nil)
    }
}
