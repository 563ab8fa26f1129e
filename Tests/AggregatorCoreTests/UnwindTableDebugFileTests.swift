@testable import AggregatorCore
import Foundation
import Symbolization
import Testing
import UnwindTableCompiler
import UnwindTableFormat
#if canImport(Glibc)
import Glibc
#endif

/// Runs a tool of the system toolchain; throws when it fails.
private func run(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    return String(decoding: data, as: UTF8.self)
}

/// An -O2 program whose unwind information is only in `.debug_frame`, stripped of it and
/// linked (`.gnu_debuglink`, build id) to a debug file whose `.debug_frame` is zlib-compressed.
private struct StrippedProgram {
    static let source = """
    __attribute__((noinline)) long leaf(long x) { return x * 3 + 1; }
    __attribute__((noinline)) long middle(long x) { long v[8] = {x, x + 1}; return v[x & 7] + leaf(x); }
    int main(int argc, char **argv) { (void)argv; return (int)middle(argc); }
    """
    let directory: String
    let program: String
    let debugFile: String

    init(compression: String = "zlib") throws {
        directory = try temporaryDirectory()
        program = directory + "/prog"
        debugFile = program + ".debug"
        try Self.source.write(toFile: program + ".c", atomically: true, encoding: .utf8)
        _ = try run(["cc", "-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g",
                     "-Wl,--build-id", "-o", program, program + ".c"])
        _ = try run(["objcopy", "--only-keep-debug", "--compress-debug-sections=\(compression)", program, debugFile])
        _ = try run(["strip", "-g", program])
        _ = try run(["objcopy", "--add-gnu-debuglink=\(debugFile)", program])
    }

    var identity: FileIdentity {
        get throws {
            var status = stat()
            try #require(stat(program, &status) == 0)
            return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }
    }

    /// The link-time address of a function (`strip -g` kept the symbols).
    func address(of function: String) throws -> UInt64 {
        let line = try #require(try run(["nm", program]).split(separator: "\n").first { $0.hasSuffix(" \(function)") })
        return try #require(UInt64(line.prefix { $0 != " " }, radix: 16))
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct UnwindTableDebugFileTests {
    private func compiled(_ entry: UnwindTableCache.Entry) throws -> CompiledUnwindTable {
        guard case .compiled(let table) = entry else { throw TestFailure("not compiled: \(entry)") }
        return table
    }

    @Test func aStrippedProgramGetsItsDebugLinkedDebugFrame() throws {
        let fixture = try StrippedProgram()
        defer { fixture.remove() }
        let cache = UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: []))
        let table = try compiled(cache.table(for: try fixture.identity, paths: [fixture.program]))
        #expect(table.separateDebugFile == "\(fixture.debugFile) (by debugLink)")
        #expect(table.debugFileWarnings.isEmpty)
        #expect(try table.table.statistics.separateDebugFrameFDEs >= 3)
        for function in ["leaf", "middle", "main"] {
            #expect(try table.table.lookup(address: try fixture.address(of: function))?.cfa == .registerOffset(.rsp, offset: 8), "\(function)")
        }
        #expect(cache.statistics.separateDebugFilesUsed == 1)

        // Without its debug file, the program has the C runtime's .eh_frame only.
        try FileManager.default.removeItem(atPath: fixture.debugFile)
        let alone = try compiled(UnwindTableCache().table(for: try fixture.identity, paths: [fixture.program]))
        #expect(alone.separateDebugFile == nil)
        #expect(try alone.table.lookup(address: try fixture.address(of: "leaf")) == nil)
    }

    @Test func aDebugFileIsFoundByBuildIDUnderADebugRoot() throws {
        let fixture = try StrippedProgram()
        defer { fixture.remove() }
        let buildID = try #require(try run(["readelf", "-n", fixture.program]).split(separator: "\n")
            .first { $0.contains("Build ID:") }?.split(separator: " ").last.map(String.init))
        let root = fixture.directory + "/debug-root"
        try FileManager.default.createDirectory(atPath: "\(root)/.build-id/\(buildID.prefix(2))", withIntermediateDirectories: true)
        let target = "\(root)/.build-id/\(buildID.prefix(2))/\(buildID.dropFirst(2)).debug"
        try FileManager.default.moveItem(atPath: fixture.debugFile, toPath: target)

        let cache = UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: ["/nonexistent", root]))
        let table = try compiled(cache.table(for: try fixture.identity, paths: [fixture.program]))
        #expect(table.separateDebugFile == "\(target) (by buildID)")
        #expect(try table.table.lookup(address: try fixture.address(of: "middle"))?.cfa == .registerOffset(.rsp, offset: 8))

        // The same debug file with a .debug_frame section header that claims 1 GiB: nothing
        // is read or allocated for it, and the table is the program's own.
        let index = try #require(try run(["readelf", "-S", "-W", target]).split(separator: "\n")
            .first { $0.contains(" .debug_frame ") }.flatMap { line in
                line.split(separator: "]").first.flatMap { Int($0.drop { !$0.isNumber }) }
            })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: target)))
        let sectionHeaders = Int(bytes[40..<48].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        for (offset, byte) in withUnsafeBytes(of: UInt64(1 << 30).littleEndian, Array.init).enumerated() {
            bytes[sectionHeaders + index * 64 + 32 + offset] = byte
        }
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        let lying = try compiled(UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: [root]))
            .table(for: try fixture.identity, paths: [fixture.program]))
        #expect(lying.separateDebugFile == nil)
        #expect(try lying.table.lookup(address: try fixture.address(of: "middle")) == nil)
        #expect(lying.debugFileWarnings.count == 1)
        let warning = try #require(lying.debugFileWarnings.first)
        #expect(warning.contains("(.debug_frame) at offset 0x18: bytes ") && warning.contains("lie outside the file"), "\(warning)")
    }

    @Test func anUnusableDebugFileIsAWarningNotAFailure() throws {
        let fixture = try StrippedProgram()
        defer { fixture.remove() }
        let alone = try UnwindTable.compile(elfBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture.program))))

        // A changed debug file: its CRC no longer matches the link.
        let handle = try #require(FileHandle(forWritingAtPath: fixture.debugFile))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        let cache = UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: []))
        let table = try compiled(cache.table(for: try fixture.identity, paths: [fixture.program]))
        #expect(table.separateDebugFile == nil)
        #expect(table.debugFileWarnings == ["\(fixture.debugFile): CRC-32 differs from the one in \(fixture.program)'s .gnu_debuglink"])
        #expect(try table.table.rows == alone.rows)
        #expect(cache.statistics.debugFileWarnings == 1)
        #expect(cache.statistics.separateDebugFilesUsed == 0)
    }

    @Test func aDebugFileAboveTheLimitIsNotRead() throws {
        let fixture = try StrippedProgram()
        defer { fixture.remove() }
        let cache = UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: []), maximumDebugFileSize: 100)
        let table = try compiled(cache.table(for: try fixture.identity, paths: [fixture.program]))
        #expect(table.separateDebugFile == nil)
        #expect(table.debugFileWarnings.count == 1)
        #expect(table.debugFileWarnings.first?.hasSuffix("bytes, above the debug file limit 100") == true)
    }

    @Test(arguments: ["zlib", "zstd"])
    func compressedDebugFramesAreDecompressed(compression: String) throws {
        let fixture = try StrippedProgram(compression: compression)
        defer { fixture.remove() }
        let cache = UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: []))
        let table = try compiled(cache.table(for: try fixture.identity, paths: [fixture.program]))
        #expect(try table.table.statistics.decompressedSections == ["separate debug file's .debug_frame"])
        #expect(try table.table.statistics.separateDebugFileError == nil)
        #expect(try table.table.lookup(address: try fixture.address(of: "leaf"))?.cfa == .registerOffset(.rsp, offset: 8))

        // The same section compressed in the program itself compiles to the same rows.
        let unstripped = fixture.directory + "/unstripped"
        _ = try run(["cc", "-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g",
                     "-o", unstripped, fixture.program + ".c"])
        let compressed = unstripped + "." + compression
        _ = try run(["objcopy", "--compress-debug-sections=\(compression)", unstripped, compressed])
        var status = stat()
        try #require(stat(compressed, &status) == 0)
        let inPlace = try compiled(cache.table(for: FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)),
                                               paths: [compressed]))
        #expect(try inPlace.table.statistics.decompressedSections == [".debug_frame"])
        #expect(inPlace.separateDebugFile == nil)
        let plain = try UnwindTable.compile(elfBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: unstripped))))
        #expect(try inPlace.table.rows == plain.rows)
        #expect(plain.statistics.debugFrameFDEs >= 3)
    }

    @Test(arguments: [SectionCompression.zlib, .zstd])
    func theDecompressorBoundsAndChecksItsOutput(format: SectionCompression) throws {
        let fixture = try StrippedProgram(compression: "\(format)")
        defer { fixture.remove() }
        let dump = fixture.directory + "/debug_frame"
        _ = try run(["objcopy", "--dump-section", ".debug_frame=\(dump)", fixture.debugFile])
        let section = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dump)))
        let size = Int(section[8..<16].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        let data = section[24...]
        let decompressor = ELFSectionDecompressor()

        let output = try decompressor.decompress(data, format: format, outputLimit: size)
        #expect(output.count == size)
        #expect(Array(output[4..<8]) == [0xFF, 0xFF, 0xFF, 0xFF], "a .debug_frame starts with a CIE")
        #expect(throws: SectionDecompressionFailure.outputLimitExceeded(limit: size - 1)) {
            try decompressor.decompress(data, format: format, outputLimit: size - 1)
        }
        #expect {
            try decompressor.decompress(data.dropLast(6), format: format, outputLimit: size)
        } throws: { error in
            guard case .corrupt(let reason) = error as? SectionDecompressionFailure else { return false }
            return reason == "the data ends before its end marker"
        }
        var garbage = Array(data)
        for index in 4..<garbage.count { garbage[index] = 0xA5 }
        #expect {
            try decompressor.decompress(garbage[...], format: format, outputLimit: size)
        } throws: { error in
            guard case .corrupt = error as? SectionDecompressionFailure else { return false }
            return true
        }
    }

    @Test func processRootPathsAreSplitForDebugLinkLookups() {
        #expect(UnwindTableCache.splitProcessRoot("/proc/42/root/usr/bin/x") == ("/proc/42/root", "/usr/bin/x"))
        #expect(UnwindTableCache.splitProcessRoot("/usr/bin/x") == ("", "/usr/bin/x"))
        #expect(UnwindTableCache.splitProcessRoot("/proc/self/root/usr/bin/x") == ("", "/proc/self/root/usr/bin/x"))
        #expect(UnwindTableCache.splitProcessRoot("/proc/42/rootless") == ("", "/proc/42/rootless"))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
