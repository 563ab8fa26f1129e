import Foundation
import SystemCalls
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Whether `fd` is an open descriptor of this process (`fcntl(F_GETFD)`; `EBADF` if not).
func isOpen(_ fd: Int32) -> Bool {
    fcntl(fd, F_GETFD) != -1 || errno != EBADF
}

/// A scratch file with `text`, removed by the caller.
func scratchFile(_ text: String = "tandem") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fd-\(UUID().uuidString)").path
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    return path
}

@Suite("FileDescriptor: owned, closed exactly once")
struct FileDescriptorTests {
    @Test("going away closes the descriptor")
    func deinitCloses() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        var number: Int32 = -1
        do {
            let fd = try FileDescriptor.open(path, O_RDONLY)
            number = fd.rawValue
            #expect(isOpen(number))
        }
        #expect(!isOpen(number), "descriptor \(number) still open after its owner went away")
    }

    @Test("close() reports the error of close(2) with the call and the number")
    func closeReportsItsError() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        // A number far above the lowest free one, so that no test running in parallel can
        // be handed it between the two closes.
        let scratch = try FileDescriptor.open(path, O_RDONLY)
        let high = fcntl(scratch.rawValue, F_DUPFD_CLOEXEC, 4000)
        try #require(high >= 4000)
        let fd = FileDescriptor(owning: high)
        #expect(Glibc.close(high) == 0)
        var thrown: SystemCallError?
        do { try fd.close() } catch { thrown = error }
        #expect(thrown == SystemCallError("close", subject: "descriptor \(high)", errno: EBADF))
    }

    @Test("release() hands the number over without closing it")
    func releaseDoesNotClose() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        let number = try FileDescriptor.open(path, O_RDONLY).release()
        #expect(isOpen(number))
        let owner = FileDescriptor(owning: number)
        let owned = owner.rawValue
        #expect(owned == number)
    }

    @Test("every descriptor it opens is close-on-exec")
    func closeOnExec() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        let plain = try FileDescriptor.open(path, O_RDONLY)
        let located = try FileDescriptor.openPath(path)
        let reopened = try located.reopen(O_RDONLY)
        for fd in [plain.rawValue, located.rawValue, reopened.rawValue] {
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "descriptor \(fd)")
        }
    }

    @Test("a failed open throws the call, the path and its errno")
    func openFailure() {
        #expect(throws: SystemCallError("open", subject: "/nonexistent/tandem", errno: ENOENT)) {
            _ = try FileDescriptor.open("/nonexistent/tandem", O_RDONLY)
        }
        #expect(throws: SystemCallError("open(O_PATH)", subject: "/nonexistent/tandem", errno: ENOENT)) {
            _ = try FileDescriptor.openPath("/nonexistent/tandem")
        }
    }

    @Test("openPath, status, reopen: the very inode, opened for reading")
    func reopenReadsTheSameInode() throws {
        let path = try scratchFile("contents")
        defer { unlink(path) }
        let located = try FileDescriptor.openPath(path)
        let status = try located.status()
        #expect(FileType(mode: status.st_mode) == .regular)
        // An O_PATH descriptor cannot read.
        var byte: UInt8 = 0
        #expect(throws: SystemCallError("read", subject: "descriptor \(located.rawValue)", errno: EBADF)) {
            _ = try withUnsafeMutableBytes(of: &byte) { (buffer) throws(SystemCallError) in try located.read(into: buffer) }
        }
        // A file renamed over the path since is not what the reopen reaches.
        let other = try scratchFile("replaced")
        try #require(rename(other, path) == 0)
        let opened = try located.reopen(O_RDONLY)
        let reopenedInode = try opened.status().st_ino
        #expect(reopenedInode == status.st_ino)
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = try opened.read(into: &bytes)
        #expect(String(decoding: bytes[..<count], as: UTF8.self) == "contents")
        #expect(try opened.read(into: &bytes) == 0, "the end of the file")
    }

    @Test("writeAll, then pread at an offset")
    func writeThenReadAtOffset() throws {
        let path = try scratchFile("")
        defer { unlink(path) }
        let fd = try FileDescriptor.open(path, O_RDWR)
        try fd.writeAll(Array("hello, descriptor".utf8)[...])
        let tail = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
        defer { tail.deallocate() }
        let count = try fd.read(fromAbsoluteOffset: 7, into: tail)
        #expect(String(decoding: tail[..<count], as: UTF8.self) == "descriptor")
        try fd.close()
    }
}

@Suite("FileDescriptorReference: a FileDescriptor in an array or tuple")
struct FileDescriptorReferenceTests {
    @Test("closes when the last reference goes, or once at close()")
    func closesOnce() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        var held = [FileDescriptorReference(try FileDescriptor.open(path, O_RDONLY))]
        let number = held[0].rawValue
        #expect(isOpen(number))
        held.removeAll()
        #expect(!isOpen(number))

        let reference = FileDescriptorReference(try FileDescriptor.open(path, O_RDONLY))
        let second = reference.rawValue
        try reference.close()
        #expect(!reference.isOpen && reference.rawValue == -1 && !isOpen(second))
        try reference.close()  // nothing left to close
    }

    @Test("take() moves the descriptor out: the reference no longer closes it")
    func takeMovesOut() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        var reference: FileDescriptorReference? = FileDescriptorReference(try FileDescriptor.open(path, O_RDONLY))
        guard let taken = reference?.take() else {
            Issue.record("take() gave nothing")
            return
        }
        reference = nil
        let number = taken.rawValue
        #expect(isOpen(number))
    }
}

@Suite("FileType: st_mode's type bits")
struct FileTypeTests {
    @Test func namesEachType() throws {
        var status = stat()
        try #require(stat("/dev/null", &status) == 0)
        #expect(FileType(mode: status.st_mode) == .characterDevice)
        try #require(stat("/", &status) == 0)
        #expect(FileType(mode: status.st_mode) == .directory)
        #expect(FileType(mode: S_IFIFO | 0o600) == .fifo)
        #expect(FileType(mode: S_IFIFO).description == "a FIFO")
    }
}
