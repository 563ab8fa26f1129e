import ELF
import SourceLines
import UnwindTableCompiler
import UnwindTableFormat

/// The source lines of a loaded file, read on the first frame that needs them.
enum SourceLineState {
    /// Not read yet (or dropped to respect the budget of line tables): read on next need.
    case pending
    case dwarf(LineTable)
    case go(GoLineTable)
    /// Nothing to read (no `.debug_line`), or the reading failed (counted and logged once).
    case unavailable
}

/// Why a file's lines could not be read; the symbolizer counts each kind.
enum SourceLineFailure: Error, CustomStringConvertible {
    /// The line information is malformed, unreadable or compressed with something unknown.
    case malformed(String)
    /// It holds more than the row cap (`SymbolizerOptions.maximumLineRows`).
    case overLimit(String)

    var description: String {
        switch self {
        case .malformed(let reason), .overLimit(let reason): reason
        }
    }
}

/// Reads the line table of a file from its own `.debug_line` or its separate debug
/// file's (`ObjectFile.lineSources`, in that order), decompressing `SHF_COMPRESSED`
/// sections through `ELFSectionDecompressor`, the one the unwind-table compiler uses.
enum SourceLineReader {
    /// Largest `.debug_line` (or `.debug_line_str`) read, stored or decompressed: it is
    /// held whole while its table is built, and a section larger than this gives more rows
    /// than the default row cap anyway (a row takes 1 to 3 bytes of program).
    static let maximumSectionSize = 64 << 20
    /// `.debug_str` is read only up to this size (it holds every name of `.debug_info`;
    /// line tables rarely point into it): past it, such file names are left empty.
    static let maximumStringSectionSize = 32 << 20

    /// The DWARF table of the first source with a `.debug_line`; `.unavailable` when none has one.
    static func read(sources: [ELFByteSource], maximumRows: Int) throws(SourceLineFailure) -> SourceLineState {
        for source in sources {
            let elf: ELFFile
            do throws(ELFFileError) { elf = try ELFFile(source: source) } catch { throw .malformed(error.description) }
            guard let debugLine = elf.section(named: ".debug_line") else { continue }
            let sections = DWARFLineProgram.Sections(
                debugLine: try contents(of: debugLine, in: elf, limit: maximumSectionSize),
                debugLineStr: try elf.section(named: ".debug_line_str").map { section throws(SourceLineFailure) in
                    try contents(of: section, in: elf, limit: maximumSectionSize)
                } ?? [],
                debugStr: try elf.section(named: ".debug_str").map { section throws(SourceLineFailure) in
                    // Stored size first: a compressed one is at most ~1000 times larger.
                    section.size > UInt64(maximumStringSectionSize) ? []
                        : try contents(of: section, in: elf, limit: maximumStringSectionSize)
                } ?? [])
            do throws(SourceLinesError) {
                return .dwarf(try DWARFLineProgram.table(of: sections, maximumRows: maximumRows))
            } catch {
                switch error.kind {
                case .malformed: throw .malformed("\(elf.name): .debug_line: \(error.description)")
                case .tooManyRows: throw .overLimit("\(elf.name): .debug_line: \(error.description)")
                }
            }
        }
        return .unavailable
    }

    /// A section's bytes, decompressed when it is `SHF_COMPRESSED` (zlib or zstd).
    static func contents(of section: ELFFile.Section, in elf: ELFFile, limit: Int) throws(SourceLineFailure) -> [UInt8] {
        let stored: [UInt8]
        do throws(ELFFileError) {
            stored = try elf.storedBytes(of: section, limit: UInt64(limit))
        } catch {
            if case .tooLarge = error.kind { throw .overLimit(error.description) }
            throw .malformed(error.description)
        }
        guard section.isCompressed else { return stored }
        do throws(UnwindTableError) {
            let cursor = try ELFFile.contents(of: ByteCursor(bytes: stored, start: 0, end: stored.count, section: section.name),
                                              isCompressed: true, decompressor: ELFSectionDecompressor(), limit: limit)
            return cursor.bytes
        } catch {
            if case .compressedSectionTooLarge = error.kind { throw .overLimit("\(elf.name): \(error.description)") }
            throw .malformed("\(elf.name): \(error.description)")
        }
    }
}
