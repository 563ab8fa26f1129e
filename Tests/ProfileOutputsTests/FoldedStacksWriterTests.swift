import Foundation
import Profiles
import SystemCalls
import Testing
@testable import ProfileOutputs

@Suite struct FoldedStacksTests {
    @Test func knownSamplesGiveExactLines() {
        let lines = FoldedStacksWriter().lines(for: Fixture.aggregate)
        #expect(lines == [
            "bash;main;readline 4",
            "spin;[truncated];main;libc.so.6+0x2000 1",
            "spin;main;weird:name 1",
            "spin;main;work;compute 5",
            "spin;main;work;libc.so.6+0x2000;__x64_sys_write;copy_user_generic 1",
            "swapper/0 2",
        ])
    }

    @Test func pidAndTruncationStyle() {
        let writer = FoldedStacksWriter(style: StackPathStyle(includesPID: true, marksTruncatedStacks: false))
        let lines = writer.lines(for: Fixture.aggregate)
        #expect(lines.contains("spin-100;main;libc.so.6+0x2000 1"))
        #expect(lines.contains("bash-200;main;readline 4"))
        #expect(lines.contains("swapper/0-0 2"))
    }

    @Test func kernelFramesCanCarryFlamegraphPlMark() {
        let lines = FoldedStacksWriter(annotatesKernelFrames: true).lines(for: Fixture.aggregate)
        #expect(lines.contains("spin;main;work;libc.so.6+0x2000;__x64_sys_write_[k];copy_user_generic_[k] 1"))
        #expect(lines.contains("spin;main;work;compute 5"))
    }

    @Test func writesTheFile() throws {
        let path = temporaryPath("folded.txt")
        try FoldedStacksWriter().write(Fixture.aggregate, toFile: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == FoldedStacksWriter().render(Fixture.aggregate))
        #expect(text.hasSuffix("swapper/0 2\n"))
    }

    @Test func unwritablePathIsAClearError() {
        #expect {
            try FoldedStacksWriter().write(Fixture.aggregate, toFile: "/nonexistent-dir/folded.txt")
        } throws: { error in
            guard let error = error as? ProfileOutputError,
                  case .writeFailed(let path, let systemCall) = error else { return false }
            return path == "/nonexistent-dir/folded.txt" && systemCall.call == "open" && systemCall.errno == ENOENT
                && systemCall.subject.hasPrefix("/nonexistent-dir/folded.txt.tmp-")
                && error.description.contains("'/nonexistent-dir/folded.txt'")
                && error.description.contains("check that the directory exists and is writable")
        }
    }
}

/// Output paths that are not regular files: never renamed over.
@Suite struct OutputFileTargetTests {
    @Test("a character device (a null device made for the test) is written in place and stays a device",
          .enabled(if: getuid() == 0, "needs root: mknod"))
    func characterDeviceStaysADevice() throws {
        let path = temporaryPath("null-device")
        guard mknod(path, S_IFCHR | 0o666, dev_t(makeDeviceNumber(major: 1, minor: 3))) == 0 else {
            throw SystemCallError.last("mknod", subject: path)
        }
        defer { unlink(path) }
        try FoldedStacksWriter().write(Fixture.aggregate, toFile: path)
        var status = stat()
        #expect(lstat(path, &status) == 0)
        #expect(FileType(mode: status.st_mode) == .characterDevice)
    }

    @Test("a FIFO is written in place for its reader; with no reader it is a clear error, not a hang")
    func fifo() throws {
        let path = temporaryPath("folded.fifo")
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        #expect {
            try FoldedStacksWriter().write(Fixture.aggregate, toFile: path)
        } throws: { error in
            guard let error = error as? ProfileOutputError, case .writeFailed(_, let call) = error else { return false }
            return call.errno == ENXIO
        }
        // A reader: the whole file arrives through the FIFO.
        let reader = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK)
        try FoldedStacksWriter().write(Fixture.aggregate, toFile: path)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try reader.read(into: &buffer)
            if count <= 0 { break }
            received += buffer[..<count]
        }
        #expect(String(decoding: received, as: UTF8.self) == FoldedStacksWriter().render(Fixture.aggregate))
        var status = stat()
        #expect(lstat(path, &status) == 0 && FileType(mode: status.st_mode) == .fifo)
    }

    @Test("a directory is refused with what it is and what to name instead")
    func directoryRefused() throws {
        let path = temporaryPath("a-directory")
        #expect(mkdir(path, 0o700) == 0)
        defer { rmdir(path) }
        #expect {
            try FoldedStacksWriter().write(Fixture.aggregate, toFile: path)
        } throws: { error in
            guard let error = error as? ProfileOutputError, case .notWritable(_, let type) = error else { return false }
            return type == .directory && error.description.contains("name a regular file")
        }
    }
}
