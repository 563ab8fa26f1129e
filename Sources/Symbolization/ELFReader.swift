import CTandemELF
#if canImport(Glibc)
import Glibc
#endif

/// Why an ELF file could not be used; the text names the failing call and the
/// libelf message, for the log and the statistics.
struct ELFError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }

    /// An error from a libelf call, with libelf's own message (`elf_errmsg`).
    static func libelf(_ call: String) -> ELFError {
        let code = elf_errno()
        let message = code == 0 ? "unknown error" : (elf_errmsg(code).map { String(cString: $0) } ?? "error \(code)")
        return ELFError("corrupt or truncated ELF file: \(call): \(message)")
    }
}

/// A `PT_LOAD` program header: how a range of file offsets maps to virtual addresses.
struct LoadSegment: Hashable, Sendable {
    var fileOffset: UInt64
    var virtualAddress: UInt64
    var fileSize: UInt64
    var isExecutable: Bool
}

/// A function symbol as read from `.symtab` or `.dynsym`.
struct RawSymbol {
    var address: UInt64
    var size: UInt64
    var name: String
    /// Lower sorts first among symbols at one address (global before weak before local).
    var rank: UInt8
}

/// The `.gnu_debuglink` section: the debug file's base name and its CRC-32.
struct DebugLink: Hashable, Sendable {
    var fileName: String
    var crc: UInt32
}

/// Where a section's bytes are in its file, from its section header.
struct SectionLocation: Hashable, Sendable {
    var offset: UInt64
    var size: UInt64
    var address: UInt64
    /// `SHF_COMPRESSED`: the bytes start with an `Elf64_Chdr`.
    var isCompressed: Bool
}

/// What symbolization needs from one ELF file.
struct ELFContents {
    var buildID: [UInt8]?
    var segments: [LoadSegment] = []
    var symbols: [RawSymbol] = []
    /// Symbol tables read straight from the file (`read(file:)`), names left in the file.
    var symbolSets: [SymbolSet] = []
    /// True when the file has a `.symtab` with at least one function (not stripped).
    var hasSymbolTable = false
    /// Go binaries carry `.gopclntab` or `.note.go.buildid`.
    var isGo = false
    /// Rust binaries: v0 symbols or the Rust runtime's own symbols.
    var hasRustMarkers = false
    var debugLink: DebugLink?
    /// Where `.debug_frame` is, when it has bytes in the file (what a debug file must have
    /// to help unwinding).
    var debugFrame: SectionLocation?
    /// The xz-compressed MiniDebugInfo ELF of `.gnu_debugdata`, still compressed.
    var miniDebugInfo: [UInt8]?
    /// Functions from `.gopclntab`, read only when the file has no `.symtab`.
    var goFunctions: [RawSymbol] = []
}

/// libelf needs `elf_version` before any other call; a global is initialized once, thread-safely.
private let libelfReady: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

/// Reads ELF files through libelf (`elf_begin` with `ELF_C_READ`, which reads with
/// `pread` on demand rather than mapping the file, so a file truncated while we read
/// it yields an error instead of `SIGBUS`).
enum ELFReader {
    /// Reads the file open at `fd`; the caller keeps ownership of `fd`. Without
    /// `symbolTables`, symbol tables are not even counted (`hasSymbolTable` stays false):
    /// build id, debug link and section markers only.
    static func read(fileDescriptor fd: Int32, loadSymbols: Bool = true, symbolTables: Bool = true) throws(ELFError) -> ELFContents {
        guard libelfReady else { throw ELFError("elf_version: libelf does not support EV_CURRENT") }
        guard let elf = elf_begin(fd, ELF_C_READ, nil) else { throw ELFError.libelf("elf_begin") }
        defer { elf_end(elf) }
        return try read(elf: elf, loadSymbols: loadSymbols && symbolTables, symbolTables: symbolTables)
    }

    /// Reads `file`; symbol tables of 64-bit little-endian files are read in chunks with
    /// their names left in the file (`StreamedSymbolReader`), so `symbolSets` holds them.
    static func read(file: OpenFile) throws(ELFError) -> ELFContents {
        guard libelfReady else { throw ELFError("elf_version: libelf does not support EV_CURRENT") }
        guard let elf = elf_begin(file.fileDescriptor, ELF_C_READ, nil) else { throw ELFError.libelf("elf_begin") }
        defer { elf_end(elf) }
        return try read(elf: elf, loadSymbols: true, file: file)
    }

    /// Only the build id, from the `PT_NOTE` program headers (cheap: the ELF header,
    /// program headers and notes). Used to check that a cached file is still the same.
    static func buildID(fileDescriptor fd: Int32) -> [UInt8]? {
        guard libelfReady, let elf = elf_begin(fd, ELF_C_READ, nil) else { return nil }
        defer { elf_end(elf) }
        guard elf_kind(elf) == ELF_K_ELF else { return nil }
        var contents = ELFContents()
        do throws(ELFError) { try readProgramHeaders(elf: elf, into: &contents) } catch { return nil }
        return contents.buildID
    }

    /// Reads an ELF image held in memory (MiniDebugInfo, the vDSO).
    static func read(image: [UInt8]) throws(ELFError) -> ELFContents {
        guard libelfReady else { throw ELFError("elf_version: libelf does not support EV_CURRENT") }
        var copy = image
        let result: Result<ELFContents, ELFError> = copy.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress,
                  let elf = elf_memory(base.assumingMemoryBound(to: CChar.self), buffer.count)
            else { return .failure(ELFError.libelf("elf_memory")) }
            defer { elf_end(elf) }
            do throws(ELFError) { return .success(try read(elf: elf, loadSymbols: true)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private static func read(elf: OpaquePointer, loadSymbols: Bool, symbolTables: Bool = true,
                             file: OpenFile? = nil) throws(ELFError) -> ELFContents {
        guard elf_kind(elf) == ELF_K_ELF else { throw ELFError("not an ELF file (bad magic)") }
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else { throw ELFError.libelf("gelf_getehdr") }

        var contents = ELFContents()
        try readProgramHeaders(elf: elf, into: &contents)

        var sectionNameIndex = 0
        guard elf_getshdrstrndx(elf, &sectionNameIndex) == 0 else { throw ELFError.libelf("elf_getshdrstrndx") }

        var section: OpaquePointer? = nil
        var symbolSections: [(OpaquePointer, GElf_Shdr)] = []
        var goPCLNTab: OpaquePointer?
        var executableSections: Set<Int> = []
        while let current = elf_nextscn(elf, section) {
            section = current
            var sectionHeader = GElf_Shdr()
            guard gelf_getshdr(current, &sectionHeader) != nil else { throw ELFError.libelf("gelf_getshdr") }
            if sectionHeader.sh_flags & UInt64(SHF_EXECINSTR) != 0 { executableSections.insert(elf_ndxscn(current)) }
            let name = elf_strptr(elf, sectionNameIndex, Int(sectionHeader.sh_name)).map { String(cString: $0) } ?? ""
            switch name {
            case ".gopclntab":
                contents.isGo = true
                if sectionHeader.sh_type != UInt32(SHT_NOBITS) { goPCLNTab = current }
            case ".note.go.buildid", ".go.buildinfo":
                contents.isGo = true
            case ".gnu_debuglink":
                contents.debugLink = readDebugLink(section: current, isBigEndian: header.e_ident.5 == UInt8(ELFDATA2MSB))
            case ".debug_frame":
                if sectionHeader.sh_type != UInt32(SHT_NOBITS), sectionHeader.sh_size > 0 {
                    contents.debugFrame = SectionLocation(offset: sectionHeader.sh_offset, size: sectionHeader.sh_size,
                                                          address: sectionHeader.sh_addr,
                                                          isCompressed: sectionHeader.sh_flags & UInt64(SHF_COMPRESSED) != 0)
                }
            case ".gnu_debugdata":
                if sectionHeader.sh_type != UInt32(SHT_NOBITS) { contents.miniDebugInfo = sectionBytes(current) }
            default:
                break
            }
            if sectionHeader.sh_type == UInt32(SHT_NOTE), contents.buildID == nil {
                contents.buildID = readBuildID(section: current)
            }
            if symbolTables, sectionHeader.sh_type == UInt32(SHT_SYMTAB) || sectionHeader.sh_type == UInt32(SHT_DYNSYM) {
                symbolSections.append((current, sectionHeader))
            }
        }
        if elf_errno() != 0, section == nil { throw ELFError.libelf("elf_nextscn") }

        let streamable = header.e_ident.4 == UInt8(ELFCLASS64) && header.e_ident.5 == UInt8(ELFDATA2LSB)
            && UInt32(1).littleEndian == 1
        for (symbolSection, sectionHeader) in symbolSections {
            if let file, streamable,
               let section = streamedSection(elf: elf, header: sectionHeader) {
                let (set, count) = try StreamedSymbolReader.read(file: file, section: section,
                                                                 executableSections: executableSections,
                                                                 collect: loadSymbols, rustMarkers: &contents.hasRustMarkers)
                if let set { contents.symbolSets.append(set) }
                if sectionHeader.sh_type == UInt32(SHT_SYMTAB), count > 0 { contents.hasSymbolTable = true }
                continue
            }
            let count = try readSymbols(elf: elf, section: symbolSection, header: sectionHeader,
                                        executableSections: executableSections,
                                        collect: loadSymbols, into: &contents.symbols,
                                        rustMarkers: &contents.hasRustMarkers)
            if sectionHeader.sh_type == UInt32(SHT_SYMTAB), count > 0 { contents.hasSymbolTable = true }
        }
        if loadSymbols, !contents.hasSymbolTable, let goPCLNTab, let table = sectionBytes(goPCLNTab) {
            contents.goFunctions = GoPCLNTab.functions(in: table)
        }
        return contents
    }

    /// Where a symbol table and its string table are in the file, when both are
    /// plain 64-bit tables there (else nil: libelf reads it).
    private static func streamedSection(elf: OpaquePointer, header: GElf_Shdr) -> StreamedSymbolReader.Section? {
        guard header.sh_entsize == UInt64(StreamedSymbolReader.entrySize), header.sh_type != UInt32(SHT_NOBITS),
              let strings = elf_getscn(elf, Int(header.sh_link))
        else { return nil }
        var stringsHeader = GElf_Shdr()
        guard gelf_getshdr(strings, &stringsHeader) != nil, stringsHeader.sh_type == UInt32(SHT_STRTAB) else { return nil }
        return StreamedSymbolReader.Section(offset: header.sh_offset, size: header.sh_size,
                                            isSymbolTable: header.sh_type == UInt32(SHT_SYMTAB),
                                            stringTableOffset: stringsHeader.sh_offset,
                                            stringTableSize: stringsHeader.sh_size)
    }

    private static func readProgramHeaders(elf: OpaquePointer, into contents: inout ELFContents) throws(ELFError) {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { throw ELFError.libelf("elf_getphdrnum") }
        for index in 0..<count {
            var programHeader = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(index), &programHeader) != nil else { throw ELFError.libelf("gelf_getphdr") }
            if programHeader.p_type == UInt32(PT_LOAD) {
                contents.segments.append(LoadSegment(
                    fileOffset: programHeader.p_offset, virtualAddress: programHeader.p_vaddr,
                    fileSize: programHeader.p_filesz, isExecutable: programHeader.p_flags & UInt32(PF_X) != 0))
            } else if programHeader.p_type == UInt32(PT_NOTE), contents.buildID == nil {
                // Files without section headers still have their notes in PT_NOTE.
                if let data = elf_getdata_rawchunk(elf, Int64(programHeader.p_offset), Int(programHeader.p_filesz), ELF_T_NHDR) {
                    contents.buildID = buildID(inNotes: data)
                }
            }
        }
    }

    private static func sectionBytes(_ section: OpaquePointer) -> [UInt8]? {
        guard let data = elf_rawdata(section, nil), let buffer = data.pointee.d_buf else { return nil }
        return Array(UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size))
    }

    private static func readBuildID(section: OpaquePointer) -> [UInt8]? {
        guard let data = elf_getdata(section, nil) else { return nil }
        return buildID(inNotes: data)
    }

    /// Walks the notes of `data` (`gelf_getnote`) for `NT_GNU_BUILD_ID` owned by "GNU".
    private static func buildID(inNotes data: UnsafeMutablePointer<Elf_Data>) -> [UInt8]? {
        guard let base = data.pointee.d_buf else { return nil }
        var offset = 0
        while offset < data.pointee.d_size {
            var note = GElf_Nhdr()
            var nameOffset = 0
            var descriptorOffset = 0
            let next = gelf_getnote(data, offset, &note, &nameOffset, &descriptorOffset)
            if next == 0 { return nil }
            offset = next
            guard note.n_type == UInt32(NT_GNU_BUILD_ID), note.n_namesz == 4,
                  descriptorOffset + Int(note.n_descsz) <= data.pointee.d_size else { continue }
            let name = UnsafeRawBufferPointer(start: base + nameOffset, count: 3)
            guard Array(name) == Array("GNU".utf8) else { continue }
            return Array(UnsafeRawBufferPointer(start: base + descriptorOffset, count: Int(note.n_descsz)))
        }
        return nil
    }

    /// `.gnu_debuglink`: a NUL-terminated file name, padding to 4 bytes, then the CRC-32.
    private static func readDebugLink(section: OpaquePointer, isBigEndian: Bool) -> DebugLink? {
        guard let bytes = sectionBytes(section), let end = bytes.firstIndex(of: 0), end > 0 else { return nil }
        let crcOffset = (end + 4) & ~3
        guard crcOffset + 4 <= bytes.count else { return nil }
        let crcBytes = bytes[crcOffset..<crcOffset + 4].map(UInt32.init)
        let crc = isBigEndian
            ? crcBytes[0] << 24 | crcBytes[1] << 16 | crcBytes[2] << 8 | crcBytes[3]
            : crcBytes[3] << 24 | crcBytes[2] << 16 | crcBytes[1] << 8 | crcBytes[0]
        return DebugLink(fileName: String(decoding: bytes[..<end], as: UTF8.self), crc: crc)
    }

    /// Appends the function symbols of one symbol table; returns how many it found.
    private static func readSymbols(elf: OpaquePointer, section: OpaquePointer, header: GElf_Shdr,
                                    executableSections: Set<Int>,
                                    collect: Bool, into symbols: inout [RawSymbol],
                                    rustMarkers: inout Bool) throws(ELFError) -> Int {
        guard header.sh_entsize > 0, header.sh_type != UInt32(SHT_NOBITS) else { return 0 }
        guard let data = elf_getdata(section, nil) else { throw ELFError.libelf("elf_getdata(symbol table)") }
        let count = Int(min(header.sh_size, UInt64(data.pointee.d_size)) / header.sh_entsize)
        var found = 0
        for index in 0..<count {
            var symbol = GElf_Sym()
            guard gelf_getsym(data, Int32(index), &symbol) != nil else { throw ELFError.libelf("gelf_getsym") }
            let type = Int32(tandem_symbol_type(symbol.st_info))
            let isFunction = type == STT_FUNC || type == STT_GNU_IFUNC
                || (type == STT_NOTYPE && executableSections.contains(Int(symbol.st_shndx)))
            guard isFunction, symbol.st_shndx != UInt16(SHN_UNDEF), symbol.st_value != 0,
                  let namePointer = elf_strptr(elf, Int(header.sh_link), Int(symbol.st_name)),
                  namePointer.pointee != 0
            else { continue }
            let name = String(cString: namePointer)
            // Local assembler labels and ARM/AArch64 mapping symbols are not functions.
            if type == STT_NOTYPE, name.hasPrefix(".L") || name.hasPrefix("$") { continue }
            if !rustMarkers, name.hasPrefix("_R") || name == "rust_eh_personality" || name.hasPrefix("__rust_") {
                rustMarkers = true
            }
            found += 1
            let binding = symbol.st_info >> 4
            let rank: UInt8 = binding == UInt8(STB_GLOBAL) ? 0 : (binding == UInt8(STB_WEAK) ? 1 : 2)
            guard collect else { continue }
            symbols.append(RawSymbol(address: symbol.st_value, size: symbol.st_size, name: name,
                                             rank: type == STT_NOTYPE ? rank + 3 : rank))
        }
        return found
    }
}
