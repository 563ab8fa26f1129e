import ELF
import Foundation
import Logging
import Profiles
import SourceLines
import Testing
import WireFormat
@testable import Symbolization
#if canImport(Glibc)
import Glibc
#endif

/// A C program whose lines the tests find by their markers: a one-line leaf (every row of
/// it is its line), and a caller whose call and the statement after it are on two lines.
private let cSource = """
    __attribute__((noipa)) int tandem_lines_leaf(int x) { return x * 3 + 1; } /* LINE:leaf */
    __attribute__((noipa)) int tandem_lines_caller(int x) {
        int y = tandem_lines_leaf(x); /* LINE:call */
        return y + x * 7; /* LINE:after */
    }
    int main(int argc, char **argv) { (void)argv; return tandem_lines_caller(argc) & 1; }

    """

/// A Go program: a function whose entry is its `func` line, and a one-line caller.
private let goSource = """
    package main

    import "os"

    //go:noinline
    func Spin(n int) int { // LINE:spin
    \ts := 0
    \tfor i := 0; i < n; i++ {
    \t\ts += i * i
    \t}
    \treturn s
    }

    type Worker struct{ n int }

    //go:noinline
    func (w *Worker) Run() int { return Spin(w.n) + 1 } // LINE:run

    func main() {
    \tw := &Worker{len(os.Args)}
    \tos.Exit(w.Run() & 0)
    }

    """

/// The 1-based number of the line of `source` holding `marker`.
private func line(of marker: String, in source: String) throws -> UInt32 {
    let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
    let index = try #require(lines.firstIndex { $0.contains(marker) }, "no \(marker) in the source")
    return UInt32(index + 1)
}

/// Symbols' link-time addresses from `nm`.
private func symbolAddresses(_ file: String) throws -> [String: UInt64] {
    var addresses: [String: UInt64] = [:]
    for line in try run(["nm", file]).split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count == 3, let address = UInt64(fields[0], radix: 16) else { continue }
        addresses[String(fields[2])] = address
    }
    return addresses
}

/// The address after the call to `callee` in `caller` (its return address), from `objdump -d`.
private func returnAddress(in file: String, caller: String, callee: String) throws -> UInt64 {
    let text = try run(["objdump", "-d", "--no-show-raw-insn", file])
    var inCaller = false
    var callSeen = false
    for line in text.split(separator: "\n") {
        if line.hasSuffix(">:") { inCaller = line.contains("<\(caller)>:"); continue }
        guard inCaller, let colon = line.firstIndex(of: ":"),
              let address = UInt64(line[..<colon].trimmingCharacters(in: .whitespaces), radix: 16) else { continue }
        if callSeen { return address }
        if line.contains("call"), line.contains("<\(callee)>") { callSeen = true }
    }
    throw CommandFailure(command: ["objdump", file], status: -1, output: "no call to \(callee) in \(caller)")
}

/// What one symbolization gave.
private struct Symbolized {
    var frames: [Frame]
    var statistics: SymbolizerStatistics
}

/// Symbolizes a stack of `file`'s link-time addresses (leaf first; the others return
/// addresses), the whole file mapped at one base in a process without /proc.
private func symbolize(_ file: String, _ addresses: [UInt64], options: SymbolizerOptions = .init(debugDirectories: []),
                       logger: Logging.Logger = testLogger()) throws -> Symbolized {
    let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: file))), name: file)
    func fileOffset(_ address: UInt64) throws -> UInt64 {
        let segment = try #require(elf.programHeaders.first {
            $0.type == ELFFile.segmentLoad && address >= $0.virtualAddress && address - $0.virtualAddress < $0.fileSize
        })
        return address - segment.virtualAddress + segment.offset
    }
    var status = stat()
    guard stat(file, &status) == 0 else { throw CommandFailure(command: ["stat", file], status: errno, output: "") }
    let base: UInt64 = 0x7f00_0000_0000
    let pid: Int32 = 0x3fff_ff20
    let mapping = Mapping(start: base, end: base + ((UInt64(status.st_size) + 0xfff) & ~0xfff), fileOffset: 0,
                          device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: file)
    let symbolizer = Symbolizer(options: options, logger: logger)
    symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "lines",
                                                     executablePath: file, cgroupPath: "/")))
    symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [mapping])))
    let stack = try addresses.map { base + (try fileOffset($0)) }
    let frames = symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: stack)).frames
    return Symbolized(frames: frames, statistics: symbolizer.statistics)
}

/// The C program built in a fresh directory.
private struct CBuild {
    let directory: TemporaryDirectory
    let source: String
    let binary: String
    let leaf: UInt64
    let callReturn: UInt64

    init(_ flags: [String]) throws {
        directory = try TemporaryDirectory()
        source = directory.file("lines.c")
        binary = directory.file("lines")
        try cSource.write(toFile: source, atomically: true, encoding: .utf8)
        try run(["gcc", "-Wl,--build-id"] + flags + ["-o", binary, source])
        leaf = try #require(try symbolAddresses(binary)["tandem_lines_leaf"])
        callReturn = try returnAddress(in: binary, caller: "tandem_lines_caller", callee: "tandem_lines_leaf")
    }

    /// The leaf and the call in the caller, as `symbolize` gives them.
    func expectLines(_ result: Symbolized, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.frames.map(\.functionName) == ["tandem_lines_leaf", "tandem_lines_caller"], sourceLocation: sourceLocation)
        #expect(result.frames.map(\.sourceFile) == [source, source], sourceLocation: sourceLocation)
        #expect(result.frames.map(\.sourceLine) == [try line(of: "LINE:leaf", in: cSource), try line(of: "LINE:call", in: cSource)],
                sourceLocation: sourceLocation)
        #expect(result.statistics.lineTablesLoaded == 1, sourceLocation: sourceLocation)
        #expect(result.statistics.framesWithLines == 2, sourceLocation: sourceLocation)
    }
}

@Suite("Source files and lines of native and Go frames")
struct SourceLineTests {
    @Test("DWARF 4 and 5, -O0 and -O2: the leaf's line, and the call's line for a return address",
          arguments: ["-gdwarf-4", "-gdwarf-5"], ["-O0", "-O2"])
    func dwarf(version: String, optimization: String) throws {
        let build = try CBuild(["-g", version, optimization])
        try build.expectLines(try symbolize(build.binary, [build.leaf, build.callReturn]))
    }

    @Test("Compressed debug sections (SHF_COMPRESSED, zlib and zstd) are decompressed", arguments: ["zlib", "zstd"])
    func compressed(format: String) throws {
        let build = try CBuild(["-g", "-O2"])
        do {
            try run(["objcopy", "--compress-debug-sections=\(format)", build.binary])
        } catch {
            // An objcopy without zstd: nothing to test for that format here.
            if format == "zstd" { return }
            throw error
        }
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: build.binary))))
        // objcopy leaves a section uncompressed when compressing would not make it smaller.
        let compressed = [".debug_line", ".debug_line_str"].filter { elf.section(named: $0)?.isCompressed == true }
        #expect(!compressed.isEmpty)
        try build.expectLines(try symbolize(build.binary, [build.leaf, build.callReturn]))
    }

    @Test("gcc -gz: a compressed build is read the same")
    func gzBuild() throws {
        let build = try CBuild(["-g", "-O2", "-gz"])
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: build.binary))))
        #expect(elf.section(named: ".debug_line")?.isCompressed == true)
        try build.expectLines(try symbolize(build.binary, [build.leaf, build.callReturn]))
    }

    @Test("A stripped file's lines come from its separate debug file, by build id or by .gnu_debuglink",
          arguments: ["build-id", "debuglink"])
    func separateDebugFile(lookup: String) throws {
        let build = try CBuild(["-g", "-O2"])
        var debugDirectories: [String] = []
        if lookup == "build-id" {
            let buildID = try CFixture.buildID(build.binary)
            let root = build.directory.file("debug")
            let directory = "\(root)/.build-id/\(buildID.prefix(2))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try run(["objcopy", "--only-keep-debug", build.binary, "\(directory)/\(buildID.dropFirst(2)).debug"])
            try run(["strip", "--strip-all", build.binary])
            debugDirectories = [root]
        } else {
            let debugFile = build.directory.file("lines.debug")
            try run(["objcopy", "--only-keep-debug", build.binary, debugFile])
            try run(["strip", "--strip-all", "--remove-section=.note.gnu.build-id", build.binary])
            try run(["objcopy", "--add-gnu-debuglink=\(debugFile)", build.binary])
        }
        #expect(!(try run(["readelf", "-S", "-W", build.binary]).contains(".debug_line")))
        let result = try symbolize(build.binary, [build.leaf, build.callReturn], options: .init(debugDirectories: debugDirectories))
        try build.expectLines(result)
    }

    @Test("Labels stay the function alone for native frames with lines; lines can be switched off")
    func labelsAndSwitch() throws {
        let build = try CBuild(["-g", "-O2"])
        let result = try symbolize(build.binary, [build.leaf])
        let frame = try #require(result.frames.first)
        #expect(frame.sourceLine != 0)
        #expect(frame.locationLabel == "tandem_lines_leaf")
        #expect(frame.functionLabel == "tandem_lines_leaf")
        #expect(frame.interpretedSourceFile == nil)

        let off = try symbolize(build.binary, [build.leaf], options: .init(debugDirectories: [], sourceLines: false))
        #expect(off.frames.map(\.functionName) == ["tandem_lines_leaf"])
        #expect(off.frames.map(\.sourceFile) == [nil])
        #expect(off.statistics.lineTablesLoaded == 0)
    }

    @Test("A file with more rows than the cap gets no lines, counted; names stay")
    func rowCap() throws {
        let build = try CBuild(["-g", "-O0"])
        let log = LogRecorder()
        let result = try symbolize(build.binary, [build.leaf, build.callReturn],
                                   options: .init(debugDirectories: [], maximumLineRows: 2), logger: log.logger)
        #expect(result.frames.map(\.functionName) == ["tandem_lines_leaf", "tandem_lines_caller"])
        #expect(result.frames.map(\.sourceLine) == [0, 0])
        #expect(result.statistics.lineTablesOverLimit == 1)
        #expect(result.statistics.lineTableFailures == 0)
        #expect(log.entries.filter { $0.message.contains("cannot read source lines") }.count == 1)
    }

    @Test("Past the byte budget the least recently used file's table is dropped, and read again when needed")
    func budget() throws {
        let first = try CBuild(["-g", "-O2"])
        let second = try CBuild(["-g", "-O0"])
        let base: UInt64 = 0x7f00_0000_0000
        let pid: Int32 = 0x3fff_ff21
        var mappings: [Mapping] = []
        for (index, build) in [first, second].enumerated() {
            var status = stat()
            #expect(stat(build.binary, &status) == 0)
            mappings.append(Mapping(start: base + UInt64(index) << 32, end: base + UInt64(index) << 32 + 0x10_0000, fileOffset: 0,
                                    device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: build.binary))
        }
        let symbolizer = Symbolizer(options: .init(debugDirectories: [], maximumLineTableBytes: 1), logger: testLogger())
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "lines",
                                                         executablePath: first.binary, cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: mappings)))
        func leafLine(_ index: Int, _ build: CBuild) throws -> UInt32 {
            // Both builds put the leaf where its file offset is its address (gcc's PIE layout).
            let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: build.binary))))
            let segment = try #require(elf.programHeaders.first {
                $0.type == ELFFile.segmentLoad && build.leaf >= $0.virtualAddress && build.leaf - $0.virtualAddress < $0.fileSize
            })
            let address = base + UInt64(index) << 32 + build.leaf - segment.virtualAddress + segment.offset
            return symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStack: [], userStack: [address]))
                .frames[0].sourceLine
        }
        let leaf = try line(of: "LINE:leaf", in: cSource)
        #expect(try leafLine(0, first) == leaf)
        #expect(try leafLine(1, second) == leaf)
        #expect(symbolizer.statistics.lineTablesEvicted == 1)
        #expect(try leafLine(0, first) == leaf)
        #expect(symbolizer.statistics.lineTablesLoaded == 3)
        #expect(symbolizer.statistics.lineTablesEvicted == 2)
    }

    @Test("Truncated or corrupted .debug_line: no lines, no crash, one counted and logged failure; names stay",
          arguments: ["length", "version", "opcode-base", "line-range"])
    func corruptDebugLine(kind: String) throws {
        let build = try CBuild(["-g", "-O0"])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: build.binary)))
        let elf = try ELFFile(bytes: bytes)
        let section = try #require(elf.section(named: ".debug_line"))
        let start = Int(section.offset)
        switch kind {
        case "length":  // unit_length past the section
            bytes.replaceSubrange(start..<start + 4, with: [0xf0, 0xff, 0xff, 0x7f])
        case "version":
            bytes.replaceSubrange(start + 4..<start + 6, with: [99, 0])
        case "opcode-base":  // DWARF 5 here: length 4, version 2, sizes 2, header length 4, then 5 bytes before opcode_base
            bytes[start + 4 + 2 + 2 + 4 + 5] = 0
        default:  // line_range 0 would divide by zero
            bytes[start + 4 + 2 + 2 + 4 + 4] = 0
        }
        try Data(bytes).write(to: URL(fileURLWithPath: build.binary))
        let log = LogRecorder()
        let result = try symbolize(build.binary, [build.leaf, build.callReturn], logger: log.logger)
        #expect(result.frames.map(\.functionName) == ["tandem_lines_leaf", "tandem_lines_caller"])
        #expect(result.frames.map(\.sourceLine) == [0, 0])
        #expect(result.frames.map(\.sourceFile) == [nil, nil])
        #expect(result.statistics.lineTableFailures == 1)
        #expect(log.entries.filter { $0.message.contains("cannot read source lines") }.count == 1)
    }

    @Test("Every truncation and many byte flips of real .debug_line sections parse or fail, never trap")
    func mutatedPrograms() throws {
        for version in ["-gdwarf-4", "-gdwarf-5"] {
            let build = try CBuild(["-g", version, "-O2"])
            let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: build.binary))))
            let line = try elf.storedBytes(of: try #require(elf.section(named: ".debug_line")), limit: 1 << 20)
            let strings = try elf.section(named: ".debug_line_str").map { try elf.storedBytes(of: $0, limit: 1 << 20) } ?? []
            for length in 0..<line.count {
                _ = try? DWARFLineProgram.table(of: .init(debugLine: Array(line[..<length]), debugLineStr: strings), maximumRows: 1 << 16)
            }
            var state: UInt64 = 0x9e37_79b9_7f4a_7c15
            for _ in 0..<4000 {
                var mutated = line
                for _ in 0..<3 {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    mutated[Int(state >> 33) % mutated.count] = UInt8(truncatingIfNeeded: state >> 17)
                }
                _ = try? DWARFLineProgram.table(of: .init(debugLine: mutated, debugLineStr: strings), maximumRows: 1 << 16)
            }
        }
    }

    @Test("Go: file and line from .gopclntab, with or without .symtab", arguments: [false, true])
    func go(stripped: Bool) throws {
        let directory = try TemporaryDirectory()
        let source = directory.file("main.go")
        let binary = directory.file("lines_go")
        try goSource.write(toFile: source, atomically: true, encoding: .utf8)
        try run(["go", "build", "-o", binary, source],
                environment: ["GOCACHE": directory.file("cache"), "GOPATH": directory.file("gopath"), "GO111MODULE": "off",
                              "CGO_ENABLED": "0"])
        let spin = try #require(try symbolAddresses(binary)["main.Spin"])
        let runReturn = try returnAddress(in: binary, caller: "main.(*Worker).Run", callee: "main.Spin")
        if stripped { try run(["strip", "--strip-all", binary]) }
        let result = try symbolize(binary, [spin, runReturn])
        #expect(result.frames.map(\.functionName) == ["main.Spin", "main.(*Worker).Run"])
        #expect(result.frames.map(\.type) == [.go, .go])
        #expect(result.frames.map(\.sourceFile) == [source, source])
        #expect(result.frames.map(\.sourceLine) == [try line(of: "LINE:spin", in: goSource), try line(of: "LINE:run", in: goSource)])
        #expect(result.frames[0].locationLabel == "main.Spin")
        #expect(result.statistics.lineTablesLoaded == 1)

        // Truncations and byte flips of the same .gopclntab: lookups answer or give nothing, never trap.
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: binary))))
        let table = try elf.storedBytes(of: try #require(elf.section(named: ".gopclntab")), limit: 64 << 20)
        #expect(GoLineTable(table)?.location(of: spin)?.line == (try line(of: "LINE:spin", in: goSource)))
        var state: UInt64 = 0x2545_f491_4f6c_dd1d
        for round in 0..<300 {
            var mutated = round % 3 == 0 ? Array(table[..<(table.count * round / 300)]) : table
            if !mutated.isEmpty {
                for _ in 0..<8 {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    // Most flips in the header and the function table, where offsets are.
                    let span = state & 1 == 0 ? min(mutated.count, 4096) : mutated.count
                    mutated[Int(state >> 33) % span] = UInt8(truncatingIfNeeded: state >> 17)
                }
            }
            if let go = GoLineTable(mutated) {
                for address in [spin, runReturn - 1, 0, UInt64.max, spin &+ 0x1000_0000] { _ = go.location(of: address) }
            }
        }
    }
}

/// Hand-made `.debug_line` units: the header fields a hostile file sets.
@Suite("DWARF line programs: hostile headers")
struct HostileLineProgramTests {
    /// A DWARF 5 unit (32-bit offsets, 8-byte addresses) whose file name list claims `count`
    /// entries of one `DW_FORM_udata` each, followed by as many bytes as `body`.
    private func unit5(fileCount: [UInt8], body: [UInt8],
                       directories: [UInt8] = [1, 1, 0x08, 1, 0x2f, 0x74, 0]) -> [UInt8] {
        // minimum_instruction_length, maximum_operations, default_is_stmt, line_base, line_range,
        // opcode_base, standard_opcode_lengths
        var header: [UInt8] = [1, 1, 1, 0xfb, 14, 13] + [0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]
        header += directories  // by default one directory: path as DW_FORM_string, "/t"
        header += [1, 2, 0x0f] + fileCount  // file names: directory index as DW_FORM_udata, count
        header += body
        var unit: [UInt8] = [5, 0, 8, 0]
        unit += withUnsafeBytes(of: UInt32(header.count).littleEndian, Array.init)
        unit += header
        return withUnsafeBytes(of: UInt32(unit.count).littleEndian, Array.init) + unit
    }

    @Test("A file name count above the per-unit cap is refused before anything is allocated for it")
    func entryCountCap() throws {
        // 2^20 entries claimed (ULEB128 80 80 40), with 2^20 bytes to hold them.
        let section = unit5(fileCount: [0x80, 0x80, 0x40], body: [UInt8](repeating: 0, count: 1 << 20))
        let error = #expect(throws: SourceLinesError.self) {
            try DWARFLineProgram.table(of: .init(debugLine: section), maximumRows: 1 << 10)
        }
        #expect(error?.description.contains("at most \(DWARFLineProgram.maximumEntriesPerUnit)") == true)
        // Within the cap, the same layout reads.
        let small = unit5(fileCount: [2], body: [0, 0])
        let table = try DWARFLineProgram.table(of: .init(debugLine: small), maximumRows: 1 << 10)
        #expect(table.count == 0)
    }

    @Test("A path longer than the cap in .debug_line_str is refused (entries may all point at it)")
    func pathLengthCap() throws {
        // Directories: one format (path, DW_FORM_line_strp), 2 entries, both at offset 0.
        let section = unit5(fileCount: [0], body: [], directories: [1, 1, 0x1f, 2, 0, 0, 0, 0, 0, 0, 0, 0])
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: DWARFLineProgram.maximumPathLength + 10) + [0]
        let error = #expect(throws: SourceLinesError.self) {
            try DWARFLineProgram.table(of: .init(debugLine: section, debugLineStr: long), maximumRows: 1 << 10)
        }
        #expect(error?.description.contains("unterminated within \(DWARFLineProgram.maximumPathLength) bytes") == true)
        let short = Array("/src".utf8) + [0]
        #expect(try DWARFLineProgram.table(of: .init(debugLine: section, debugLineStr: short), maximumRows: 1 << 10).count == 0)
    }
}
