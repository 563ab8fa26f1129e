import Foundation
import Testing
import ELF
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

@Suite struct DebugFileCompileTests {
    /// `prog` stripped of its debug sections and linked to `prog.debug`, which keeps a
    /// zlib-compressed `.debug_frame`: the usual way a distribution splits a binary.
    struct StrippedProgram {
        let directory: ScratchDirectory
        let program: String
        let debugFile: String

        init(compression: String = "zlib") throws {
            directory = try ScratchDirectory()
            program = try compileC(workloadSource, name: "prog", flags: debugFrameOnlyFlags, in: directory)
            debugFile = program + ".debug"
            _ = try runProgram("/usr/bin/objcopy", ["--only-keep-debug", "--compress-debug-sections=\(compression)", program, debugFile])
            _ = try runProgram("/usr/bin/strip", ["-g", program])
            _ = try runProgram("/usr/bin/objcopy", ["--add-gnu-debuglink=\(debugFile)", program])
        }
    }

    @Test func strippedProgramIsCompiledWithItsDebugFilesDebugFrame() throws {
        let fixture = try StrippedProgram()
        defer { fixture.directory.remove() }
        let program = try readFile(fixture.program)
        let debug = try readFile(fixture.debugFile)
        #expect(try ELFFile(bytes: program).section(named: ".debug_frame") == nil)
        #expect(try sectionHeader(".debug_frame", in: debug).isCompressed)

        let alone = try UnwindTable.compile(elfBytes: program)
        let debugFrame = try #require(try SeparateDebugFrame(debugFileBytes: debug))
        #expect(debugFrame.isCompressed)
        #expect(try SeparateDebugFrame(debugFileBytes: program) == nil, "strip -g removed the program's .debug_frame")
        let table = try UnwindTable.compile(elfBytes: program, separateDebugFrame: debugFrame, decompressor: CountingZlibDecompressor())
        #expect(table.statistics.separateDebugFileError == nil)
        #expect(table.statistics.decompressedSections == ["separate debug file's .debug_frame"])
        #expect(table.statistics.separateDebugFrameFDEs >= 5)
        #expect(table.statistics.debugFrameFDEs == table.statistics.separateDebugFrameFDEs)
        #expect(table.statistics.ehFrameFDEs == alone.statistics.ehFrameFDEs, "the C runtime's .eh_frame is kept")
        #expect(table.loadSegments == alone.loadSegments)

        // Every row readelf interprets from the debug file (it decompresses) is ours too.
        let frames = try ReadelfFrames(path: fixture.debugFile)
        let (mismatches, checked) = compare(table, with: frames, section: ".debug_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(checked > 10)
        #expect(table.statistics.debugFrameFDEs == frames.fdes.filter { $0.section == ".debug_frame" && $0.start != 0 }.count)
        // .eh_frame still wins where both describe an address.
        let (ehMismatches, ehChecked) = compare(table, with: try ReadelfFrames(path: fixture.program), section: ".eh_frame")
        #expect(ehMismatches.isEmpty, "\(ehMismatches.joined(separator: "\n"))")
        #expect(ehChecked > 0)

        // The workload's functions are covered only with the debug file.
        for name in ["leaf", "big_frame", "dynamic", "recurse", "framed", "main"] {
            let symbol = try #require(try functionSymbol(name, in: fixture.debugFile), "\(name)")
            #expect(alone.lookup(address: symbol.address) == nil, "\(name)")
            #expect(table.lookup(address: symbol.address)?.cfa == .registerOffset(.rsp, offset: 8), "\(name)")
        }
    }

    @Test func aBrokenDebugFileFallsBackToTheFileAlone() throws {
        let fixture = try StrippedProgram()
        defer { fixture.directory.remove() }
        let program = try readFile(fixture.program)
        let debug = try readFile(fixture.debugFile)
        let alone = try UnwindTable.compile(elfBytes: program)

        let debugFrame = try #require(try SeparateDebugFrame(debugFileBytes: debug))

        // A debug file that is not ELF has no .debug_frame to give.
        #expect(throws: UnwindTableError(.notELF, section: "ELF header", offset: 0, file: .separateDebugFile)) {
            try SeparateDebugFrame(debugFileBytes: Array("not an ELF file".utf8))
        }

        // Its compressed .debug_frame corrupt.
        var corrupt = debugFrame
        for index in ELFFile.compressionHeaderSize + 2..<corrupt.contents.count { corrupt.contents[index] = 0 }
        let fallback = try UnwindTable.compile(elfBytes: program, separateDebugFrame: corrupt, decompressor: CountingZlibDecompressor())
        #expect(fallback.rows == alone.rows)
        let error = try #require(fallback.statistics.separateDebugFileError)
        #expect(error.file == .separateDebugFile)
        #expect(error.section == ".debug_frame")
        #expect("\(error)".hasPrefix("separate debug file, .debug_frame at offset 0x18: zlib decompression failed"))

        // Its CFI malformed: the first entry's length runs past the section.
        let malformed = SeparateDebugFrame(contents: [0xFF, 0xFF, 0, 0] + Array(repeating: 0, count: 12), address: 0, isCompressed: false)
        let fromMalformed = try UnwindTable.compile(elfBytes: program, separateDebugFrame: malformed)
        #expect(fromMalformed.rows == alone.rows)
        #expect(fromMalformed.statistics.separateDebugFileError?.file == .separateDebugFile)

        // No decompressor: the debug file's compressed .debug_frame cannot be read.
        let undecompressed = try UnwindTable.compile(elfBytes: program, separateDebugFrame: debugFrame)
        #expect(undecompressed.rows == alone.rows)
        #expect(undecompressed.statistics.separateDebugFileError == UnwindTableError(.compressedSection, section: ".debug_frame",
                                                                                      offset: 0, file: .separateDebugFile))

        // A file with no unwind information of its own fails with the debug file's error.
        let bare = try compileC("int main(void) { return 0; }", name: "bare",
                                flags: ["-nostartfiles", "-e", "main", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"],
                                in: fixture.directory)
        #expect(throws: UnwindTableError(.compressedSection, section: ".debug_frame", offset: 0, file: .separateDebugFile)) {
            try UnwindTable.compile(elfBytes: try readFile(bare), separateDebugFrame: debugFrame)
        }
    }
}
