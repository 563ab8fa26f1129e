import ELF
import Profiles

/// Why an ELF file could not be used; the text names the file and what is wrong, for
/// the log and the statistics.
struct ELFError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }

    init(_ error: ELFFileError) { self.description = error.description }
}

/// A `PT_LOAD` program header: how a range of file offsets maps to virtual addresses
/// (the type the exporters receive in ``MappedFileIdentity``).
typealias LoadSegment = FileSegment

/// A function symbol with its name in hand (`.gopclntab`).
struct RawSymbol {
    var address: UInt64
    var size: UInt64
    var name: String
    /// Lower sorts first among symbols at one address (global before weak before local).
    var rank: UInt8
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
    /// The function symbols of each symbol table, in section order.
    var symbolSets: [SymbolSet] = []
    /// True when the file has a `.symtab` with at least one function (not stripped).
    var hasSymbolTable = false
    /// Go binaries carry `.gopclntab` or `.note.go.buildid`.
    var isGo = false
    /// Rust binaries: v0 symbols or the Rust runtime's own symbols.
    var hasRustMarkers = false
    var debugLink: ELFDebugLink?
    /// Where `.debug_frame` is, when it has bytes in the file (what a debug file must have
    /// to help unwinding).
    var debugFrame: SectionLocation?
    /// The xz-compressed MiniDebugInfo ELF of `.gnu_debugdata`, still compressed.
    var miniDebugInfo: [UInt8]?
    /// Whether the file has line information: `.debug_line` or `.gopclntab`.
    var hasLineInformation = false
    /// Functions from `.gopclntab`, read only when the file has no `.symtab`.
    var goFunctions: [RawSymbol] = []
}

/// Reads what symbolization needs from an ELF file through the shared pure-Swift
/// reader (`ELFFile`), which reads only the ranges it needs with `pread` (a file
/// truncated while read yields an error, never `SIGBUS`).
enum ELFReader {
    /// Largest `.gopclntab` read (a large Go binary's is tens of MiB).
    static let maximumGoPCLNTabSize: UInt64 = 256 << 20
    /// Largest `.gnu_debugdata` read (real ones are tens of KiB).
    static let maximumMiniDebugInfoSize: UInt64 = 64 << 20

    /// Parses `file`'s headers: the `ELFFile` that both `read(elf:file:)` and the unwind
    /// table compiler take, so that one open and one parse of a file serve both.
    static func parse(_ file: OpenFile) throws(ELFError) -> ELFFile {
        do throws(ELFFileError) { return try ELFFile(source: file) } catch { throw ELFError(error) }
    }

    /// Reads `file`. Without `symbolTables`, symbol tables are not even counted
    /// (`hasSymbolTable` stays false): build id, debug link and section markers only.
    /// Large string tables stay in the file (`NameSource`), read back for the names used.
    static func read(file: OpenFile, symbolTables: Bool = true) throws(ELFError) -> ELFContents {
        try read(elf: parse(file), file: file, symbolTables: symbolTables)
    }

    /// Reads an ELF image held in memory (MiniDebugInfo, the vDSO); names are copied out.
    static func read(image: [UInt8]) throws(ELFError) -> ELFContents {
        let elf: ELFFile
        do throws(ELFFileError) { elf = try ELFFile(bytes: image) } catch { throw ELFError(error) }
        return try read(elf: elf, file: nil, symbolTables: true)
    }

    /// Only the build id (the ELF header, headers and notes). Used to check that a
    /// cached file is still the same.
    static func buildID(file: OpenFile) -> [UInt8]? {
        try? ELFFile(source: file).buildID()
    }

    /// What symbolization needs from the parsed `elf`; `file`, when it is the open file
    /// `elf` reads, lets large string tables stay there.
    static func read(elf: ELFFile, file: OpenFile?, symbolTables: Bool) throws(ELFError) -> ELFContents {
        do throws(ELFFileError) {
            return try contents(of: elf, file: file, symbolTables: symbolTables)
        } catch {
            throw ELFError(error)
        }
    }

    private static func contents(of elf: ELFFile, file: OpenFile?, symbolTables: Bool) throws(ELFFileError) -> ELFContents {
        var contents = ELFContents()
        contents.segments = elf.programHeaders.filter { $0.type == ELFFile.segmentLoad }.map {
            LoadSegment(fileOffset: $0.offset, virtualAddress: $0.virtualAddress, fileSize: $0.fileSize, isExecutable: $0.isExecutable)
        }
        contents.buildID = try elf.buildID()
        contents.debugLink = try elf.debugLink()
        contents.isGo = elf.sections.contains { [".gopclntab", ".note.go.buildid", ".go.buildinfo"].contains($0.name) }
        if let section = elf.section(named: ".debug_frame") {
            contents.debugFrame = SectionLocation(offset: section.offset, size: section.size, address: section.address,
                                                  isCompressed: section.isCompressed)
        }
        contents.hasLineInformation = elf.section(named: ".debug_line") != nil || elf.section(named: ".gopclntab") != nil
        if let section = elf.section(named: ".gnu_debugdata") {
            contents.miniDebugInfo = try elf.storedBytes(of: section, limit: maximumMiniDebugInfoSize)
        }
        guard symbolTables else { return contents }

        let executableSections = Set(elf.sections.filter(\.isExecutable).map(\.index))
        for table in try elf.symbolTables() {
            let (set, found) = try StreamedSymbolReader.read(elf.source, table: table, namesFile: file,
                                                             executableSections: executableSections,
                                                             rustMarkers: &contents.hasRustMarkers)
            contents.symbolSets.append(set)
            if table.isStatic, found > 0 { contents.hasSymbolTable = true }
        }
        if !contents.hasSymbolTable, let section = elf.section(named: ".gopclntab") {
            contents.goFunctions = GoPCLNTab.functions(in: try elf.storedBytes(of: section, limit: maximumGoPCLNTabSize))
        }
        return contents
    }
}
