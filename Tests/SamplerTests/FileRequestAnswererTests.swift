import Foundation
import SystemCalls
import Testing
import WireFormat
@testable import DescriptorPassing
@testable import SamplerCore
#if canImport(Glibc)
import Glibc
#endif

extension FileRequestAnswerer {
    /// `answer`, its descriptor held by reference so that a test can keep it in a tuple.
    mutating func answerReferenced(_ request: FileRequest, known: [Mapping]?, inFlight: Int,
                                   now: UInt64) -> (answer: FileDescriptorAnswer, descriptor: FileDescriptorReference?) {
        var reply = answer(request, known: known, inFlight: inFlight, now: now)
        guard let descriptor = reply.descriptor.take() else { return (reply.answer, nil) }
        return (reply.answer, FileDescriptorReference(descriptor))
    }
}

/// The sampler's side of descriptor passing: it answers only for mappings it knows,
/// passes only the very file mapped, and bounds what it hands out.
@Suite("file requests")
struct FileRequestAnswererTests {
    /// A scratch file of this process, opened through /proc/PID/root as the sampler does.
    struct ScratchFile {
        let path: String
        let mapping: Mapping

        init(_ name: String = "tandem-request") throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
            try "\u{7F}ELF".write(toFile: path, atomically: false, encoding: .utf8)
            var status = stat()
            try #require(stat(path, &status) == 0)
            mapping = Mapping(start: 0x40_0000, end: 0x40_1000, fileOffset: 0, device: UInt64(status.st_dev),
                              inode: UInt64(status.st_ino), path: path)
        }

        var request: FileRequest {
            FileRequest(pid: getpid(), start: mapping.start, end: mapping.end, device: mapping.device, inode: mapping.inode)
        }
    }

    @Test("a known mapping: a read-only descriptor of that very file")
    func knownMappingIsPassed() throws {
        let file = try ScratchFile()
        defer { unlink(file.path) }
        var answerer = FileRequestAnswerer()
        let (answer, descriptor) = answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 1)
        let fd = try #require(descriptor?.rawValue)
        #expect(answer.status == .attached)
        #expect(answer.pid == getpid() && answer.start == file.mapping.start && answer.inode == file.mapping.inode)
        var status = stat()
        #expect(fstat(fd, &status) == 0 && UInt64(status.st_ino) == file.mapping.inode)
        #expect(fcntl(fd, F_GETFL) & O_ACCMODE == O_RDONLY)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        #expect(answerer.counters == .init(requests: 1, descriptorsSent: 1, refused: 0))
    }

    @Test("a mapping the sampler does not know is refused, whatever the aggregator claims")
    func unknownMappingIsRefused() throws {
        let file = try ScratchFile()
        defer { unlink(file.path) }
        var answerer = FileRequestAnswerer()
        var otherRange = file.request
        otherRange.end += 0x1000
        var otherInode = file.request
        otherInode.inode += 1
        var otherPID = file.request
        otherPID.pid = 999_999
        let cases: [(FileRequest, [Mapping]?)] = [
            (otherRange, [file.mapping]), (otherInode, [file.mapping]), (file.request, nil), (file.request, []),
            (otherPID, nil),
        ]
        for (request, known) in cases {
            let (answer, descriptor) = answerer.answerReferenced(request, known: known, inFlight: 0, now: 1)
            #expect(descriptor == nil)
            #expect(answer.status == .unknownMapping)
        }
        // A pseudo file (no path to open) is not a file mapping either.
        var vdso = file.mapping
        vdso.path = "[vdso]"
        #expect(answerer.answerReferenced(file.request, known: [vdso], inFlight: 0, now: 1).answer.status == .unknownMapping)
        #expect(answerer.counters == .init(requests: 6, descriptorsSent: 0, refused: 6))
        #expect(answerer.lastRefusal?.contains("not a mapping the sampler knows") == true)
    }

    @Test("a file replaced since it was mapped is refused: the identity check")
    func replacedFileIsRefused() throws {
        let file = try ScratchFile()
        defer { unlink(file.path) }
        // The mapped file stays alive (held open, as a mapping would), so its inode
        // cannot be reused by the file renamed over its path.
        let held = open(file.path, O_RDONLY | O_CLOEXEC)
        defer { close(held) }
        try "other".write(toFile: file.path + ".new", atomically: false, encoding: .utf8)
        try #require(rename(file.path + ".new", file.path) == 0)
        var answerer = FileRequestAnswerer()
        let (answer, descriptor) = answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 1)
        #expect(descriptor == nil)
        #expect(answer.status == .identityMismatch)
        #expect(answerer.counters == .init(requests: 1, descriptorsSent: 0, refused: 1))
    }

    @Test("a missing file: open failed, with its errno")
    func missingFile() throws {
        let file = try ScratchFile()
        unlink(file.path)
        var answerer = FileRequestAnswerer()
        let (answer, descriptor) = answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 1)
        #expect(descriptor == nil)
        #expect(answer.status == .openFailed)
        #expect(answer.errorNumber == UInt32(ENOENT))
    }

    @Test("a FIFO where the file was: refused without blocking")
    func fifoIsNotARegularFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fifo-\(UUID().uuidString)").path
        try #require(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        var status = stat()
        try #require(stat(path, &status) == 0)
        let mapping = Mapping(start: 0x1000, end: 0x2000, fileOffset: 0, device: UInt64(status.st_dev),
                              inode: UInt64(status.st_ino), path: path)
        var answerer = FileRequestAnswerer()
        let request = FileRequest(pid: getpid(), start: 0x1000, end: 0x2000, device: mapping.device, inode: mapping.inode)
        let (answer, descriptor) = answerer.answerReferenced(request, known: [mapping], inFlight: 0, now: 1)
        #expect(descriptor == nil)
        #expect(answer.status == .notRegularFile)
    }

    @Test("bounded: descriptors in flight, and requests per second")
    func bounds() throws {
        let file = try ScratchFile()
        defer { unlink(file.path) }
        var answerer = FileRequestAnswerer(limits: .init(maximumInFlight: 2, requestsPerSecond: 10, burst: 2))
        #expect(answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 2, now: 0).answer.status == .busy)
        var passed: [FileDescriptorReference] = []
        for _ in 0..<2 {
            let (answer, descriptor) = answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 0)
            #expect(answer.status == .attached)
            if let descriptor { passed.append(descriptor) }
        }
        // The bucket is empty; a tenth of a second later it holds one more.
        #expect(answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 50_000_000).answer.status == .busy)
        let (later, descriptor) = answerer.answerReferenced(file.request, known: [file.mapping], inFlight: 0, now: 150_000_000)
        if let descriptor { passed.append(descriptor) }
        #expect(later.status == .attached)
        #expect(answerer.counters == .init(requests: 5, descriptorsSent: 3, refused: 2))
    }
}

/// What root opens when the path it read from /proc/PID/maps no longer leads to the
/// mapped file: it resolves the path inside the process's root and opens nothing but the
/// mapped regular file (docs/security.md, "Files it passes to the aggregator").
@Suite("file requests: paths swapped and links", .serialized, .enabled(if: getuid() == 0, "needs root: device nodes, mounts"))
struct FileRequestPathTests {
    /// A scratch directory, removed with everything in it.
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-paths-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        @discardableResult
        func file(_ name: String, _ text: String = "\u{7F}ELF") throws -> String {
            let file = "\(path)/\(name)"
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: false, encoding: .utf8)
            return file
        }

        /// Puts a symbolic link to `target` at `name`, replacing what was there.
        func link(_ name: String, to target: String) throws {
            let file = "\(path)/\(name)"
            unlink(file)
            try #require(symlink(target, file) == 0, "symlink(\(file)): errno \(errno)")
        }
    }

    static func mapping(of path: String, at mapped: String? = nil) throws -> Mapping {
        var status = stat()
        try #require(stat(path, &status) == 0, "stat(\(path)): errno \(errno)")
        return Mapping(start: 0x40_0000, end: 0x40_1000, fileOffset: 0, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: mapped ?? path)
    }

    static func request(_ mapping: Mapping, pid: Int32 = getpid()) -> FileRequest {
        FileRequest(pid: pid, start: mapping.start, end: mapping.end, device: mapping.device, inode: mapping.inode)
    }

    /// Every open of `path` (inotify `IN_OPEN`), even one closed at once: an `O_PATH`
    /// descriptor opens nothing and reports nothing.
    final class OpenWatch {
        let fd: Int32
        init(_ path: String) throws {
            fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            try #require(fd >= 0)
            try #require(inotify_add_watch(fd, path, UInt32(IN_OPEN)) >= 0, "inotify_add_watch(\(path)): errno \(errno)")
        }
        deinit { close(fd) }

        /// Whether an open was reported; the events are queued by the open itself.
        var sawOpen: Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            return buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } > 0
        }
    }

    @Test("a link to a secret, a FIFO or a device swapped in after the maps were read: refused, never opened")
    func swappedLinksAreNeverOpened() throws {
        let scratch = try Scratch()
        let library = try scratch.file("lib/libmapped.so")
        let mapping = try Self.mapping(of: library)
        // The mapped file stays alive (a mapping holds it), so its inode is not reused.
        let held = open(library, O_RDONLY | O_CLOEXEC)
        defer { close(held) }
        let secret = try scratch.file("secret", "root only")
        chmod(secret, 0o600)
        let fifo = "\(scratch.path)/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let device = "\(scratch.path)/null"
        try #require(mknod(device, S_IFCHR | 0o600, dev_t(MapsFile.makeDevice(major: 1, minor: 3))) == 0)

        let cases: [(target: String, status: FileDescriptorStatus, reason: String)] = [
            (secret, .identityMismatch, "not the mapped"), (fifo, .notRegularFile, "is a FIFO"),
            (device, .notRegularFile, "is a character device"),
        ]
        for (target, expected, reason) in cases {
            let watch = try OpenWatch(target)
            try scratch.link("lib/libmapped.so", to: target)
            var answerer = FileRequestAnswerer()
            let (answer, descriptor) = answerer.answerReferenced(Self.request(mapping), known: [mapping], inFlight: 0, now: 1)
            #expect(descriptor == nil, "\(target)")
            #expect(answer.status == expected, "\(target)")
            #expect(answerer.lastRefusal?.contains(reason) == true, "\(answerer.lastRefusal ?? "no refusal")")
            #expect(!watch.sawOpen, "root opened \(target)")
        }
        // The FIFO's writer never saw a reader.
        let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        #expect(writer == -1 && errno == ENXIO)
        if writer >= 0 { close(writer) }

        // The host's own /etc/shadow and /dev/null.
        for (target, expected) in [("/etc/shadow", FileDescriptorStatus.identityMismatch), ("/dev/null", .notRegularFile)] {
            try scratch.link("lib/libmapped.so", to: target)
            var answerer = FileRequestAnswerer()
            let (answer, descriptor) = answerer.answerReferenced(Self.request(mapping), known: [mapping], inFlight: 0, now: 1)
            #expect(descriptor == nil && answer.status == expected, "\(target): \(answer.status)")
        }
    }

    @Test("links inside a process's root resolve inside it: in-root links work, escapes stay in, magic links are refused")
    func linksResolveInsideTheRoot() throws {
        let scratch = try Scratch()
        // A fake /proc whose process 4242 has `rootfs` as its root.
        let rootfs = "\(scratch.path)/rootfs"
        let library = try scratch.file("rootfs/usr/lib/libok.so")
        let decoy = try scratch.file("rootfs/etc/shadow", "the container's own")
        try scratch.link("rootfs/lib", to: "usr/lib")
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/proc/4242", withIntermediateDirectories: true)
        try scratch.link("proc/4242/root", to: rootfs)
        let procRoot = "\(scratch.path)/proc"

        func answer(_ mapping: Mapping) -> (FileDescriptorAnswer, stat?, String?) {
            var answerer = FileRequestAnswerer(procRoot: procRoot)
            let (answer, descriptor) = answerer.answerReferenced(Self.request(mapping, pid: 4242), known: [mapping], inFlight: 0, now: 1)
            guard let descriptor else { return (answer, nil, answerer.lastRefusal) }
            var status = stat()
            fstat(descriptor.rawValue, &status)
            return (answer, status, nil)
        }

        // The legitimate case: /lib -> usr/lib inside the root.
        let legitimate = try Self.mapping(of: library, at: "/lib/libok.so")
        let (ok, okStatus, okRefusal) = answer(legitimate)
        #expect(ok.status == .attached, "\(okRefusal ?? "")")
        #expect(okStatus.map { UInt64($0.st_ino) } == legitimate.inode)

        // Links that would leave the root on the host lead to the root's own /etc/shadow.
        let depth = String(repeating: "../", count: rootfs.split(separator: "/").count + 4)
        for (name, target) in [("relative", "\(depth)etc/shadow"), ("absolute", "/etc/shadow")] {
            try scratch.link("rootfs/usr/lib/\(name).so", to: target)
            let mapping = try Self.mapping(of: decoy, at: "/usr/lib/\(name).so")
            let (result, status, refusal) = answer(mapping)
            #expect(result.status == .attached, "\(name): \(refusal ?? "")")
            #expect(status.map { UInt64($0.st_ino) } == mapping.inode, "\(name) resolved outside the root")
        }

        // A magic link met on the way (here the test process's /proc/PID/root, which leads
        // to the host's /) is not followed, even to the very file mapped.
        try scratch.link("rootfs/usr/lib/magic.so", to: "/proc/\(getpid())/root/etc/shadow")
        try FileManager.default.createDirectory(atPath: "\(rootfs)/proc", withIntermediateDirectories: true)
        try #require(Self.run("/bin/mount", ["-t", "proc", "proc", "\(rootfs)/proc"]) == 0)
        defer {
            _ = Self.run("/bin/umount", ["-l", "\(rootfs)/proc"])
            withExtendedLifetime(scratch) {}  // removed only once unmounted
        }
        let hostShadow = try Self.mapping(of: "/etc/shadow", at: "/usr/lib/magic.so")
        let (magic, _, magicRefusal) = answer(hostShadow)
        #expect(magic.status == .openFailed, "\(magicRefusal ?? "attached the host's /etc/shadow")")
        #expect(magic.errorNumber == UInt32(ELOOP))
    }

    static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
