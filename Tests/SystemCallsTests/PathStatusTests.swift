import Foundation
import SystemCalls
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("PathStatus: stat(2) of a path, opening nothing")
struct PathStatusTests {
    @Test("a file's size and inode, as fstat of it gives them")
    func regularFile() throws {
        let path = try scratchFile("twelve bytes")
        defer { unlink(path) }
        let status = try PathStatus.of(path)
        let opened = try FileDescriptor.open(path, O_RDONLY).status()
        #expect(status.st_size == 12)
        #expect(status.st_ino == opened.st_ino && status.st_dev == opened.st_dev)
    }

    @Test("a FIFO is described without waiting for a writer")
    func fifo() throws {
        let path = try scratchFile()
        unlink(path)
        try #require(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        // open(2) of it for reading would block until a writer comes: stat(2) must not.
        #expect(FileType(mode: try PathStatus.of(path).st_mode) == .fifo)
    }

    @Test("a missing path throws the call, the path and ENOENT")
    func missing() throws {
        let path = try scratchFile()
        unlink(path)
        var thrown: SystemCallError?
        do { _ = try PathStatus.of(path) } catch { thrown = error }
        #expect(thrown == SystemCallError("stat", subject: path, errno: ENOENT))
    }
}
