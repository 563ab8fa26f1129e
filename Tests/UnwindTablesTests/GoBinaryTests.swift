import Foundation
import Testing
import ELF
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// Debian's Go toolchain (golang-go), when installed.
let goToolchain = "/usr/bin/go"

@Suite struct GoBinaryTests {
    /// Go's linker writes no .eh_frame and compresses its DWARF, .debug_frame included: its
    /// binaries have unwind information only through a decompressor.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: goToolchain), "needs golang-go"))
    func goBinaryHasACompressedDebugFrameThatAgreesWithReadelf() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        try """
        package main

        //go:noinline
        func leaf(x int) int { return x*3 + 1 }

        func main() { println(leaf(4)) }
        """.write(toFile: directory.path + "/main.go", atomically: true, encoding: .utf8)
        try "module unwindtest\n\ngo 1.19\n".write(toFile: directory.path + "/go.mod", atomically: true, encoding: .utf8)
        let program = directory.path + "/goprogram"
        let build = Process()
        build.executableURL = URL(fileURLWithPath: goToolchain)
        build.arguments = ["build", "-ldflags=-compressdwarf=true", "-o", program, "."]
        build.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        build.environment = ["PATH": "/usr/bin:/bin", "HOME": directory.path, "GOCACHE": directory.path + "/cache",
                             "GOPATH": directory.path + "/gopath", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"]
        try build.run()
        build.waitUntilExit()
        try #require(build.terminationStatus == 0, "go build failed")

        let bytes = try readFile(program)
        #expect(try sectionHeader(".debug_frame", in: bytes).isCompressed)
        #expect(try ELFFile(bytes: bytes).section(named: ".eh_frame") == nil)
        #expect {
            _ = try UnwindTable.compile(elfBytes: bytes)
        } throws: { ($0 as? UnwindTableError)?.kind == .compressedSection }

        let table = try UnwindTable.compile(elfBytes: bytes, decompressor: CountingZlibDecompressor())
        #expect(table.statistics.decompressedSections == [".debug_frame"])
        #expect(table.statistics.debugFrameFDEs > 500, "the Go runtime's functions")
        let (mismatches, checked) = compare(table, with: try ReadelfFrames(path: program), section: ".debug_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(checked > 1000)
        let leaf = try #require(try functionSymbol("main.leaf", in: program))
        #expect(table.lookup(address: leaf.address)?.cfa == .registerOffset(.rsp, offset: 8))
    }
}
