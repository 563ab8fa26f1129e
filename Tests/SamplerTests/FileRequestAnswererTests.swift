import Foundation
import Testing
import WireFormat
@testable import SamplerCore
#if canImport(Glibc)
import Glibc
#endif

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
        let (answer, descriptor) = answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 1)
        let fd = try #require(descriptor)
        defer { close(fd) }
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
            let (answer, descriptor) = answerer.answer(request, known: known, inFlight: 0, now: 1)
            #expect(descriptor == nil)
            #expect(answer.status == .unknownMapping)
        }
        // A pseudo file (no path to open) is not a file mapping either.
        var vdso = file.mapping
        vdso.path = "[vdso]"
        #expect(answerer.answer(file.request, known: [vdso], inFlight: 0, now: 1).answer.status == .unknownMapping)
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
        let (answer, descriptor) = answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 1)
        #expect(descriptor == nil)
        #expect(answer.status == .identityMismatch)
        #expect(answerer.counters == .init(requests: 1, descriptorsSent: 0, refused: 1))
    }

    @Test("a missing file: open failed, with its errno")
    func missingFile() throws {
        let file = try ScratchFile()
        unlink(file.path)
        var answerer = FileRequestAnswerer()
        let (answer, descriptor) = answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 1)
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
        let (answer, descriptor) = answerer.answer(request, known: [mapping], inFlight: 0, now: 1)
        #expect(descriptor == nil)
        #expect(answer.status == .notRegularFile)
    }

    @Test("bounded: descriptors in flight, and requests per second")
    func bounds() throws {
        let file = try ScratchFile()
        defer { unlink(file.path) }
        var answerer = FileRequestAnswerer(limits: .init(maximumInFlight: 2, requestsPerSecond: 10, burst: 2))
        #expect(answerer.answer(file.request, known: [file.mapping], inFlight: 2, now: 0).answer.status == .busy)
        var passed: [Int32] = []
        defer { for fd in passed { close(fd) } }
        for _ in 0..<2 {
            let (answer, descriptor) = answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 0)
            #expect(answer.status == .attached)
            if let descriptor { passed.append(descriptor) }
        }
        // The bucket is empty; a tenth of a second later it holds one more.
        #expect(answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 50_000_000).answer.status == .busy)
        let (later, descriptor) = answerer.answer(file.request, known: [file.mapping], inFlight: 0, now: 150_000_000)
        if let descriptor { passed.append(descriptor) }
        #expect(later.status == .attached)
        #expect(answerer.counters == .init(requests: 5, descriptorsSent: 3, refused: 2))
    }
}
