/// A symbol table section (`.symtab` or `.dynsym`) and the string table its names are
/// in, both checked to lie in the file; the symbols themselves are read by the caller
/// in chunks (`ELFSymbol(entry:)`), since a large binary's tables are tens of megabytes.
public struct ELFSymbolTable: Hashable, Sendable {
    public var symbols: ELFFile.Section
    public var strings: ELFFile.Section
    /// `SHT_SYMTAB` (else `SHT_DYNSYM`).
    public var isStatic: Bool { symbols.type == ELFFile.sectionTypeSymbolTable }
    /// `Elf64_Sym` (24 bytes) or `Elf32_Sym` (16).
    public var entrySize: Int { Int(symbols.entrySize) }
    /// Whole entries in the section.
    public var count: UInt64 { symbols.size / symbols.entrySize }
}

/// One `Elf64_Sym` or `Elf32_Sym`.
public struct ELFSymbol: Hashable, Sendable {
    public static let entrySize = 24
    public static let entrySize32 = 16
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

    /// The symbol whose `entrySize` bytes (24: `Elf64_Sym`, 16: `Elf32_Sym`) start at
    /// `offset` of `entries` (the caller keeps `offset + entrySize <= entries.count`).
    @inline(__always)
    public init(entries: UnsafeRawBufferPointer, at offset: Int, entrySize: Int = ELFSymbol.entrySize) {
        precondition(offset >= 0 && offset + entrySize <= entries.count)
        func load<T: FixedWidthInteger>(_ at: Int, as type: T.Type) -> T {
            T(littleEndian: entries.loadUnaligned(fromByteOffset: offset + at, as: T.self))
        }
        nameOffset = load(0, as: UInt32.self)
        if entrySize == Self.entrySize {
            info = entries[offset + 4]
            sectionIndex = load(6, as: UInt16.self)
            value = load(8, as: UInt64.self)
            size = load(16, as: UInt64.self)
        } else {
            precondition(entrySize == Self.entrySize32)
            value = UInt64(load(4, as: UInt32.self))
            size = UInt64(load(8, as: UInt32.self))
            info = entries[offset + 12]
            sectionIndex = load(14, as: UInt16.self)
        }
    }
}

extension ELFFile {
    /// The symbol tables with bytes in the file, in section order. A table whose entry
    /// size is not its class's `ElfN_Sym`, or whose `sh_link` is not a string table,
    /// throws: its symbols or names could not be read.
    public func symbolTables() throws(ELFFileError) -> [ELFSymbolTable] {
        var tables: [ELFSymbolTable] = []
        for section in sections where section.type == Self.sectionTypeSymbolTable || section.type == Self.sectionTypeDynamicSymbols {
            guard section.hasFileBytes, section.size > 0 else { continue }
            let place = section.name.isEmpty ? "section header \(section.index)" : section.name
            guard section.entrySize == UInt64(is64Bit ? ELFSymbol.entrySize : ELFSymbol.entrySize32) else {
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
