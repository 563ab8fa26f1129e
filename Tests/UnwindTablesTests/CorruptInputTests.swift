import Testing
import ELF
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// The small C workload, built once per test that needs it.
private func smallBinary(flags: [String] = ["-O2", "-fomit-frame-pointer"]) throws -> [UInt8] {
    let directory = try ScratchDirectory()
    defer { directory.remove() }
    return try readFile(try compileC(workloadSource, name: "small", flags: flags, in: directory))
}

/// File offset of the section header of `name`, and the section's file offset and size.
private func sectionHeader(_ name: String, in bytes: [UInt8]) throws -> (header: Int, offset: Int, size: Int) {
    let elf = try ELFFile(bytes: bytes)
    let index = try #require(elf.sections.firstIndex { $0.name == name })
    let header = Int(littleEndian64(bytes, at: 40)) + index * 64
    return (header, Int(elf.sections[index].offset), Int(elf.sections[index].size))
}

/// What any compile of corrupt input must satisfy: a typed error, or a table that is
/// sorted and survives its own serialization's validation.
private func compileCorrupt(_ bytes: [UInt8]) -> Result<UnwindTable, UnwindTableError> {
    do {
        let table = try UnwindTable.compile(elfBytes: bytes)
        #expect(zip(table.rows, table.rows.dropFirst()).allSatisfy { $0.startAddress < $1.startAddress })
        #expect((try? UnwindTable(serialized: table.serialized()))?.rows == table.rows)
        return .success(table)
    } catch {
        return .failure(error)
    }
}

@Suite struct CorruptInputTests {
    @Test(arguments: [".eh_frame", ".debug_frame"])
    func sectionTruncatedAtEveryOffset(section: String) throws {
        let flags = section == ".eh_frame" ? ["-O2"] : ["-O2", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"]
        let bytes = try smallBinary(flags: flags)
        let (header, _, size) = try sectionHeader(section, in: bytes)
        var errors = 0
        for cut in 0..<size {
            var truncated = bytes
            truncated.replaceSubrange(header + 32..<header + 40, with: le(UInt64(cut)))
            if case .failure(let error) = compileCorrupt(truncated) {
                errors += 1
                // An empty section is no unwind information at all.
                #expect(error.section == section || (cut == 0 && error.kind == .noUnwindInformation), "\(error)")
                #expect(error.offset <= cut, "\(error)")
            }
        }
        // Only cuts at entry boundaries (and an empty section) leave a readable section.
        #expect(errors > size * 9 / 10)
    }

    @Test func fileTruncatedAtEveryOffsetOfItsEHFrame() throws {
        let bytes = try smallBinary()
        let (_, offset, size) = try sectionHeader(".eh_frame", in: bytes)
        for cut in offset..<(offset + size) {
            // The section headers sit at the end of the file: every prefix must be refused.
            guard case .failure(let error) = compileCorrupt(Array(bytes[..<cut])) else {
                Issue.record("a \(cut)-byte prefix compiled")
                continue
            }
            #expect(error.kind == .outOfFileBounds(offset: littleEndian64(bytes, at: 40), size: 64, fileSize: cut), "\(error)")
        }
        for cut in 0..<64 {
            guard case .failure = compileCorrupt(Array(bytes[..<cut])) else { Issue.record("a \(cut)-byte prefix compiled"); continue }
        }
    }

    @Test(arguments: [".eh_frame", ".eh_frame_hdr", ".debug_frame"])
    func flippedBitsNeverCrash(section: String) throws {
        let flags = section == ".debug_frame" ? ["-O2", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"] : ["-O2"]
        let bytes = try smallBinary(flags: flags)
        let (_, offset, size) = try sectionHeader(section, in: bytes)
        var outcomes = (tables: 0, errors: 0)
        for index in offset..<(offset + size) {
            for mask in [UInt8(1) << (index % 8), 0x80, 0xFF] {
                var corrupt = bytes
                corrupt[index] ^= mask
                switch compileCorrupt(corrupt) {
                case .success: outcomes.tables += 1
                case .failure: outcomes.errors += 1
                }
            }
        }
        #expect(outcomes.tables + outcomes.errors == size * 3)
        if section != ".eh_frame_hdr" { #expect(outcomes.errors > 0) }
    }

    @Test func randomMultiByteMutationsNeverCrash() throws {
        let bytes = try smallBinary()
        let (_, offset, size) = try sectionHeader(".eh_frame", in: bytes)
        var generator = SplitMix64(seed: 0x7A4D_E11E)
        for _ in 0..<3000 {
            var corrupt = bytes
            for _ in 0..<Int(generator.next() % 6 + 1) {
                let index = offset + Int(generator.next() % UInt64(size))
                corrupt[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = compileCorrupt(corrupt)
        }
    }

    @Test func corruptHeadersGiveTypedErrors() throws {
        let bytes = try smallBinary()
        let sectionHeaders = Int(littleEndian64(bytes, at: 40))
        var errors = 0
        for index in Array(0..<64) + Array(sectionHeaders..<bytes.count) {
            var corrupt = bytes
            corrupt[index] ^= 0xFF
            if case .failure = compileCorrupt(corrupt) { errors += 1 }
        }
        #expect(errors > 0)

        var wrongMachine = bytes
        wrongMachine[18] = 183 // EM_AARCH64
        #expect(throws: UnwindTableError(.unsupportedMachine(183), section: "ELF header", offset: 18)) {
            try UnwindTable.compile(elfBytes: wrongMachine)
        }
        var elf32 = bytes
        elf32[4] = 1
        #expect(throws: UnwindTableError(.unsupportedELFClass(class: 1, byteOrder: 1), section: "ELF header", offset: 4)) {
            try UnwindTable.compile(elfBytes: elf32)
        }
        #expect(throws: UnwindTableError(.notELF, section: "ELF header", offset: 0)) {
            try UnwindTable.compile(elfBytes: Array("#!/bin/sh\n".utf8))
        }
        // A section count far beyond the file is refused before anything is allocated for it.
        var hugeCount = bytes
        hugeCount.replaceSubrange(60..<62, with: le(UInt16(0xFFFE)))
        #expect(throws: UnwindTableError.self) { try UnwindTable.compile(elfBytes: hugeCount) }
    }

    @Test func hostileSectionHeadersAreCheckedBeforeUse() throws {
        var builder = CFIBuilder(.ehFrame)
        builder.fde(cie: builder.cie(), start: 0x1000, length: 0x10, instructions: [])
        let bytes = makeELF(ehFrame: builder.bytes)
        let headers = Int(littleEndian64(bytes, at: 40))
        let ehFrameName = Array(bytes[headers + 64..<headers + 68])
        // Section 0 renamed .eh_frame, made PROGBITS, pointing far outside the file.
        var renamedNull = bytes
        renamedNull.replaceSubrange(headers..<headers + 8, with: ehFrameName + le(UInt32(1)))
        renamedNull.replaceSubrange(headers + 24..<headers + 40, with: le(UInt64.max - 8) + le(UInt64(16)))
        #expect(throws: UnwindTableError.self) { try UnwindTable.compile(elfBytes: renamedNull) }
        // The section name table is section 0 with a huge offset, or a NOBITS section.
        for type: UInt32 in [0, 8] {
            var badNames = bytes
            badNames.replaceSubrange(62..<64, with: le(UInt16(0)))
            badNames.replaceSubrange(headers + 4..<headers + 8, with: le(type))
            badNames.replaceSubrange(headers + 24..<headers + 32, with: le(UInt64.max))
            #expect(throws: UnwindTableError(.noUnwindInformation, section: "section headers", offset: 0)) {
                try UnwindTable.compile(elfBytes: badNames)
            }
        }
        // .eh_frame's own size runs past the end of the file.
        var oversized = bytes
        oversized.replaceSubrange(headers + 64 + 32..<headers + 64 + 40, with: le(UInt64(bytes.count)))
        let error = try #require(throws: UnwindTableError.self) { try UnwindTable.compile(elfBytes: oversized) }
        #expect(error.section == "section header 1 (.eh_frame)")
    }

    @Test func errorDescriptionsNameSectionOffsetAndCause() {
        let error = UnwindTableError(.restoreStateWithoutRemember, section: ".eh_frame", offset: 0x1F4)
        #expect(error.description == ".eh_frame at offset 0x1f4: DW_CFA_restore_state without DW_CFA_remember_state")
    }
}

/// A small deterministic generator, so that a failing mutation can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
