import Foundation
import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// The system binaries the issue names: Debian's python3, libc and coreutils.
let systemBinaries: [String] = [
    URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path,
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/bin/ls",
]

func littleEndian64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
}

@Suite struct ReadelfComparisonTests {
    @Test(arguments: systemBinaries)
    func systemBinaryAgreesWithReadelf(path: String) throws {
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let frames = try ReadelfFrames(path: path)
        let (mismatches, checked) = compare(table, with: frames, section: ".eh_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        let readelfFDEs = frames.fdes.filter { $0.section == ".eh_frame" }.count
        #expect(checked > readelfFDEs, "every FDE contributes at least one checked row")
        #expect(table.statistics.ehFrameFDEs + table.statistics.discardedFDEs == readelfFDEs)
        #expect(table.statistics.searchTableEntries == table.statistics.ehFrameFDEs)
        #expect(table.statistics.overlappingFDEs == 0)
        // Rows are sorted, merged, and the table ends with a no-info row.
        #expect(zip(table.rows, table.rows.dropFirst()).allSatisfy { $0.startAddress < $1.startAddress && !$0.hasSameRules(as: $1) })
        #expect(table.rows.last?.cfa == CFARule.noInfo)
    }

    @Test func optimizedWorkloadAgreesWithReadelf() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let path = try compileC(workloadSource, name: "workload", flags: ["-O2", "-fomit-frame-pointer"], in: directory)
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let (mismatches, checked) = compare(table, with: try ReadelfFrames(path: path), section: ".eh_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(checked > 10)

        // -fomit-frame-pointer: leaf's CFA is rsp-based everywhere.
        let leaf = try #require(try functionSymbol("leaf", in: path))
        for address in leaf.address..<(leaf.address + leaf.size) {
            let row = try #require(table.lookup(address: address))
            guard case .registerOffset(.rsp, _) = row.cfa else { Issue.record("leaf+\(address - leaf.address): \(row.cfa)"); break }
        }
        // The 200 000-byte frame needs the wide CFA offset field.
        let big = try #require(try functionSymbol("big_frame", in: path))
        let offsets = table.rows.filter { (big.address..<big.address + big.size).contains($0.startAddress) }.compactMap { row -> Int32? in
            if case .registerOffset(.rsp, let offset) = row.cfa { return offset } else { return nil }
        }
        #expect(offsets.contains { $0 > 200_000 })
        // alloca forces a frame pointer: an rbp-based CFA with rbp saved at CFA-16.
        let dynamic = try #require(try functionSymbol("dynamic", in: path))
        let rbpRows = table.rows.filter { (dynamic.address..<dynamic.address + dynamic.size).contains($0.startAddress) && $0.cfa == .registerOffset(.rbp, offset: 16) }
        #expect(!rbpRows.isEmpty)
        #expect(rbpRows.allSatisfy { $0.rbp == .cfaOffset(-16) })
    }

    @Test func debugFrameAgreesWithReadelf() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        // Without unwind tables GCC describes the functions in .debug_frame instead.
        let path = try compileC(workloadSource, name: "debugframe",
                                flags: ["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"],
                                in: directory)
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let frames = try ReadelfFrames(path: path)
        #expect(table.statistics.debugFrameFDEs == frames.fdes.filter { $0.section == ".debug_frame" && $0.start != 0 }.count)
        #expect(table.statistics.debugFrameFDEs >= 5)
        for section in [".eh_frame", ".debug_frame"] {
            let (mismatches, checked) = compare(table, with: frames, section: section)
            #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
            #expect(checked > 0, "\(section)")
        }
        let recurse = try #require(try functionSymbol("recurse", in: path))
        #expect(table.lookup(address: recurse.address)?.cfa == .registerOffset(.rsp, offset: 8))
    }

    @Test func framePointerFunctionUsesRBPAfterItsPrologue() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let path = try compileC(workloadSource, name: "framed", flags: ["-O0", "-fno-omit-frame-pointer"], in: directory)
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let framed = try #require(try functionSymbol("framed", in: path))
        let rows = table.rows.filter { (framed.address..<framed.address + framed.size).contains($0.startAddress) }
        #expect(rows.first == UnwindRow(startAddress: framed.address, cfa: .registerOffset(.rsp, offset: 8), rbp: .unchanged))
        // push %rbp; mov %rsp,%rbp: then CFA = rbp+16 with the caller's rbp at CFA-16 ...
        let body = try #require(rows.first { $0.cfa == .registerOffset(.rbp, offset: 16) })
        #expect(body.rbp == .cfaOffset(-16))
        #expect(body.startAddress - framed.address <= 8)
        // ... until `leave`, after which the `ret` has CFA = rsp+8 again.
        #expect(table.lookup(address: framed.address + framed.size - 1)?.cfa == .registerOffset(.rsp, offset: 8))
    }

    @Test func pltEntriesAndStartAreRecognized() throws {
        let bytes = try readFile("/usr/bin/ls")
        let table = try UnwindTable.compile(elfBytes: bytes)
        #expect(table.rows.contains { $0.cfa == .pltExpression(rspOffset: 8, threshold: 11) })
        #expect(table.statistics.unsupportedRows[.cfaExpression] == nil)
        // e_entry is _start, whose CIE marks the return address undefined.
        let entry = littleEndian64(bytes, at: 24)
        #expect(table.lookup(address: entry)?.cfa == .endOfStack)
        #expect(table.statistics.endOfStackRows >= 1)
    }

    @Test func lookupOutsideCoveredRangesFindsNothing() throws {
        let table = try UnwindTable.compile(elfBytes: try readFile("/usr/bin/ls"))
        let first = try #require(table.rows.first)
        let last = try #require(table.rows.last)
        #expect(table.lookup(address: first.startAddress - 1) == nil)
        #expect(table.lookup(address: last.startAddress) == nil)
        #expect(table.lookup(address: UInt64.max) == nil)
        #expect(table.lookup(address: first.startAddress) == first)
        // Every gap between FDEs is a no-info row.
        let gaps = table.rows.filter { $0.cfa == .noInfo }
        #expect(gaps.count >= 2)
        for gap in gaps { #expect(table.lookup(address: gap.startAddress) == nil) }
    }

    @Test func strippedSectionHeadersFallBackToTheEHFrameSegment() throws {
        var bytes = try readFile("/usr/bin/ls")
        let withSections = try UnwindTable.compile(elfBytes: bytes)
        // e_shoff = 0, e_shnum = 0, e_shstrndx = 0: as after `sstrip`.
        for index in 40..<48 { bytes[index] = 0 }
        bytes[60] = 0; bytes[61] = 0; bytes[62] = 0; bytes[63] = 0
        let withoutSections = try UnwindTable.compile(elfBytes: bytes)
        #expect(withoutSections.rows == withSections.rows)
        #expect(withoutSections.statistics.searchTableEntries == withSections.statistics.ehFrameFDEs)
    }
}

@Suite struct SeparateDebugFileTests {
    @Test func separateDebugFileIsCompiledFromItsDebugFrame() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let path = try compileC(workloadSource, name: "debuglink",
                                flags: ["-O2", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"], in: directory)
        let debugPath = path + ".debug"
        _ = try runProgram("/usr/bin/objcopy", ["--only-keep-debug", path, debugPath])
        // In the debug file .eh_frame is SHT_NOBITS: only .debug_frame has bytes.
        let table = try UnwindTable.compile(elfBytes: try readFile(debugPath))
        #expect(table.statistics.ehFrameFDEs == 0)
        #expect(table.statistics.debugFrameFDEs >= 5)
        let (mismatches, checked) = compare(table, with: try ReadelfFrames(path: path), section: ".debug_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(checked > 0)

        // A compressed .debug_frame is named as the reason, with the fix.
        let compressedPath = path + ".zdebug"
        _ = try runProgram("/usr/bin/objcopy", ["--compress-debug-sections=zlib", debugPath, compressedPath])
        #expect(throws: UnwindTableError(.compressedSection, section: ".debug_frame", offset: 0)) {
            try UnwindTable.compile(elfBytes: try readFile(compressedPath))
        }
    }
}
