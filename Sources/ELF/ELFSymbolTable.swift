/// A symbol table section (`.symtab` or `.dynsym`) and the string table its names are
/// in, both checked to lie in the file; the symbols themselves are read by the caller
/// in chunks (`ELFSymbol(entry:)`), since a large binary's tables are tens of megabytes.
public struct ELFSymbolTable: Hashable, Sendable {
    public var symbols: ELFFile.Section
    public var strings: ELFFile.Section
    /// `SHT_SYMTAB` (else `SHT_DYNSYM`).
    public var isStatic: Bool { symbols.type == ELFFile.sectionTypeSymbolTable }
    /// Whole entries in the section.
    public var count: UInt64 { symbols.size / UInt64(ELFSymbol.entrySize) }
}

/// One `Elf64_Sym`.
public struct ELFSymbol: Hashable, Sendable {
    public static let entrySize = 24
    public static let typeNone: UInt8 = 0
    public static let typeFunction: UInt8 = 2
    public static let typeIndirectFunction: UInt8 = 10
    public static let bindingGlobal: UInt8 = 1
    public static let bindingWeak: UInt8 = 2
    public static let undefinedSection: UInt16 = 0

    /// `st_name`: offset of the name in the table's string table.
    public var nameOffset: UInt32
    public var info: UInt8
    /// `st_shndx`.
    public var sectionIndex: UInt16
    public var value: UInt64
    public var size: UInt64

    public var type: UInt8 { info & 0xF }
    public var binding: UInt8 { info >> 4 }

    /// The symbol whose 24 bytes start at `offset` of `entries` (the caller keeps
    /// `offset + entrySize <= entries.count`).
    @inline(__always)
    public init(entries: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + Self.entrySize <= entries.count)
        nameOffset = UInt32(littleEndian: entries.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        info = entries[offset + 4]
        sectionIndex = UInt16(littleEndian: entries.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
        value = UInt64(littleEndian: entries.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        size = UInt64(littleEndian: entries.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
    }
}

extension ELFFile {
    /// The symbol tables with bytes in the file, in section order. A table whose entry
    /// size is not `Elf64_Sym`'s, or whose `sh_link` is not a string table, throws: its
    /// names could not be read.
    public func symbolTables() throws(ELFFileError) -> [ELFSymbolTable] {
        var tables: [ELFSymbolTable] = []
        for section in sections where section.type == Self.sectionTypeSymbolTable || section.type == Self.sectionTypeDynamicSymbols {
            guard section.hasFileBytes, section.size > 0 else { continue }
            let place = section.name.isEmpty ? "section header \(section.index)" : section.name
            guard section.entrySize == UInt64(ELFSymbol.entrySize) else {
                throw ELFFileError(.malformedHeader(field: "sh_entsize", value: section.entrySize), file: name, place: place, offset: 0)
            }
            guard Int(section.link) < sections.count else {
                throw ELFFileError(.malformedHeader(field: "sh_link (string table index; \(sections.count) sections)",
                                                    value: UInt64(section.link)), file: name, place: place, offset: 0)
            }
            let strings = sections[Int(section.link)]
            guard strings.type == Self.sectionTypeStringTable else {
                throw ELFFileError(.malformedHeader(field: "type of the string table at sh_link \(section.link)",
                                                    value: UInt64(strings.type)), file: name, place: place, offset: 0)
            }
            tables.append(ELFSymbolTable(symbols: section, strings: strings))
        }
        return tables
    }
}
