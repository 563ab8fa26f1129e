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
