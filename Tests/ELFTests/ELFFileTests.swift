import ELF
import Testing

/// The error `body` throws, or nil (and an issue) when it throws none.
private func elfError(_ body: () throws(ELFFileError) -> Void) -> ELFFileError? {
    do throws(ELFFileError) {
        try body()
        Issue.record("no error")
        return nil
    } catch {
        return error
    }
}

/// Everything symbolization reads from a file: any of it may throw, none may trap.
private func readEverything(_ elf: ELFFile) throws(ELFFileError) {
    _ = try elf.buildID()
    _ = try elf.debugLink()
    for table in try elf.symbolTables() {
        let entries = try elf.storedBytes(of: table.symbols, limit: 1 << 20)
        entries.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count - ELFSymbol.entrySize + 1, by: ELFSymbol.entrySize) {
                _ = ELFSymbol(entries: raw, at: offset)
            }
        }
    }
}

@Suite("The shared ELF reader")
struct ELFFileTests {
    @Test("reads sections, segments, the build id, the debug link and symbol tables")
    func readsASyntheticFile() throws {
        let file = SyntheticELF()
        let elf = try ELFFile(bytes: file.bytes, name: "synthetic")
        #expect(elf.sections.map(\.name) == SyntheticELF.sectionNames)
        #expect(elf.machine == ELFFile.machineX86_64)
        #expect(elf.programHeaders.map(\.type) == [ELFFile.segmentLoad, ELFFile.segmentNote])
        #expect(try elf.buildID() == SyntheticELF.buildID)
        #expect(try elf.debugLink() == ELFDebugLink(fileName: SyntheticELF.debugLinkName, crc: SyntheticELF.debugLinkCRC))
        let tables = try elf.symbolTables()
        #expect(tables.count == 1)
        let table = try #require(tables.first)
        #expect(table.isStatic && table.count == 3 && table.strings.index == SyntheticELF.stringsIndex)
        let entries = try elf.storedBytes(of: table.symbols, limit: 1 << 20)
        let symbols = entries.withUnsafeBytes { raw in (0..<3).map { ELFSymbol(entries: raw, at: $0 * ELFSymbol.entrySize) } }
        #expect(symbols.map(\.value) == [0, 0x401000, 0x401010])
        #expect(symbols.map(\.type) == [0, ELFSymbol.typeFunction, ELFSymbol.typeFunction])
        #expect(symbols.map(\.binding) == [0, ELFSymbol.bindingGlobal, 0])
        #expect(elf.section(named: ".text")?.isExecutable == true)
        #expect(elf.fileRange(ofVirtualAddress: 0x400010)?.offset == 0x10)
    }

    @Test("every truncation of the file is an error naming the file, never a trap")
    func truncatedAtEveryLength() {
        let bytes = SyntheticELF().bytes
        for length in 0..<bytes.count {
            guard let error = elfError({ () throws(ELFFileError) in
                try readEverything(try ELFFile(bytes: Array(bytes[..<length]), name: "cut"))
            }) else { continue }
            #expect(error.file == "cut" && error.description.hasPrefix("cut: "), "\(error)")
            if length < 4 { #expect(error.kind == .notELF) }
            if (4..<64).contains(length) {
                let size: UInt64 = length < 16 ? 16 : 64  // the identification bytes, then the whole header
                #expect(error.kind == .outOfFileBounds(offset: 0, size: size, fileSize: UInt64(length)) && error.place == "ELF header")
            }
        }
    }

    @Test("a section whose bytes lie past the end of the file is refused, naming its header")
    func sectionOffsetPastTheEnd() {
        var file = SyntheticELF()
        let size = UInt64(file.bytes.count)
        file.put(le(size - 8), at: file.sectionHeaderField(SyntheticELF.symbolsIndex, 24))
        let error = elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: file.bytes) }
        #expect(error?.kind == .outOfFileBounds(offset: size - 8, size: 72, fileSize: size))
        #expect(error?.place == "section header \(SyntheticELF.symbolsIndex) (.symtab)")
        #expect(error?.description.contains("lie outside the file") == true)
    }

    @Test("huge header counts are refused before anything is allocated for them")
    func hugeCounts() {
        var sections = SyntheticELF()
        sections.put(le(UInt16(0xFFFE)), at: 60)
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: sections.bytes) }?.kind
                == .malformedHeader(field: "section header count", value: 0xFFFE))
        var extended = SyntheticELF()
        // e_shnum 0: the count is section 0's sh_size.
        extended.put(le(UInt16(0)), at: 60)
        extended.put(le(UInt64.max), at: extended.sectionHeaderField(0, 32))
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: extended.bytes) }?.kind
                == .malformedHeader(field: "section header count", value: .max))
        var segments = SyntheticELF()
        segments.put(le(UInt16(0xFFF0)), at: 56)
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: segments.bytes) }?.kind
                == .malformedHeader(field: "program header count", value: 0xFFF0))
        // A file large enough to hold them still may not claim more than the bound.
        var padded = SyntheticELF()
        padded.put(le(UInt16(0)), at: 60)
        padded.put(le(ELFFile.maximumHeaderCount + 1), at: padded.sectionHeaderField(0, 32))
        padded.bytes += [UInt8](repeating: 0, count: Int(ELFFile.maximumHeaderCount + 1) * 64)
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: padded.bytes) }?.kind
                == .malformedHeader(field: "section header count", value: ELFFile.maximumHeaderCount + 1))
        var entrySize = SyntheticELF()
        entrySize.put(le(UInt16(8)), at: 58)
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: entrySize.bytes) }?.kind
                == .malformedHeader(field: "e_shentsize", value: 8))
    }

    @Test("string-table indices out of range are errors: a section name, e_shstrndx, a symbol table's sh_link")
    func stringTableIndicesOutOfRange() {
        var name = SyntheticELF()
        name.put(le(UInt32(0x7FFF_0000)), at: name.sectionHeaderField(SyntheticELF.textIndex, 0))
        let nameError = elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: name.bytes) }
        #expect(nameError?.place == "section header \(SyntheticELF.textIndex)")
        if case .nameOutOfRange(0x7FFF_0000, _)? = nameError?.kind {} else { Issue.record("\(String(describing: nameError))") }

        var namesIndex = SyntheticELF()
        namesIndex.put(le(UInt16(40)), at: 62)
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: namesIndex.bytes) }?.kind
                == .malformedHeader(field: "e_shstrndx", value: 40))

        var link = SyntheticELF()
        link.put(le(UInt32(99)), at: link.sectionHeaderField(SyntheticELF.symbolsIndex, 40))
        let linkError = elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: link.bytes).symbolTables() }
        #expect(linkError?.place == ".symtab")
        #expect(linkError?.description.contains("sh_link") == true, "\(String(describing: linkError))")

        var notStrings = SyntheticELF()
        notStrings.put(le(UInt32(SyntheticELF.textIndex)), at: notStrings.sectionHeaderField(SyntheticELF.symbolsIndex, 40))
        #expect(elfError { () throws(ELFFileError) in _ = try ELFFile(bytes: notStrings.bytes).symbolTables() }?.kind
                == .malformedHeader(field: "type of the string table at sh_link \(SyntheticELF.textIndex)", value: 1))
    }

    @Test("a note whose sizes run past its area ends the walk: no build id, no trap")
    func noteSizesPastTheArea() throws {
        var file = SyntheticELF()
        let note = Int(try ELFFile(bytes: file.bytes).sections[SyntheticELF.noteIndex].offset)
        file.put(le(UInt32.max), at: note + 4)
        #expect(try ELFFile(bytes: file.bytes).buildID() == nil)
        file.put(le(UInt32.max), at: note)
        #expect(try ELFFile(bytes: file.bytes).buildID() == nil)
    }

    @Test("a section larger than the caller's limit is refused, not read")
    func storedBytesLimit() throws {
        let elf = try ELFFile(bytes: SyntheticELF().bytes, name: "limited")
        let text = try #require(elf.section(named: ".text"))
        let error = elfError { () throws(ELFFileError) in _ = try elf.storedBytes(of: text, limit: 8) }
        #expect(error?.kind == .tooLarge(size: 32, limit: 8))
        #expect(error?.description == "limited: .text at offset 0x0: 32 bytes, more than the 8 accepted; the file is corrupt")
    }

    @Test("a source that ends before its declared size gives a read error, not a trap")
    func shrunkSource() {
        struct Shrunk: ELFByteSource {
            let image: ELFImage
            var name: String { "shrunk" }
            var byteCount: UInt64 { image.byteCount + 4096 }
            func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(ELFFileError) {
                guard offset + UInt64(buffer.count) <= image.byteCount else {
                    throw ELFFileError(.readFailed(reason: "the file shrank"), file: name, place: "file", offset: offset)
                }
                try image.read(into: buffer, at: offset)
            }
        }
        var file = SyntheticELF()
        file.put(le(UInt64(file.bytes.count + 1024)), at: 40)
        let error = elfError { () throws(ELFFileError) in _ = try ELFFile(source: Shrunk(image: ELFImage(bytes: file.bytes))) }
        #expect(error?.kind == .readFailed(reason: "the file shrank"))
    }

    @Test("random corruption of the headers never traps")
    func randomHeaderCorruption() {
        let original = SyntheticELF()
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 17
        }
        let headerBytes = Array(0..<(64 + 112)) + Array(original.sectionHeaderOffset..<original.bytes.count)
        for _ in 0..<5000 {
            var bytes = original.bytes
            for _ in 0..<Int(next() % 4 + 1) {
                bytes[headerBytes[Int(next() % UInt64(headerBytes.count))]] = UInt8(truncatingIfNeeded: next())
            }
            do throws(ELFFileError) { try readEverything(try ELFFile(bytes: bytes)) } catch { _ = error.description }
        }
    }
}
