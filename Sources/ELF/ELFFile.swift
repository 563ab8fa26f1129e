/// The structure of a little-endian ELF file (ELF64, or ELF32 for 32-bit processes): its
/// header, section headers (with names) and program headers, read without libelf from
/// any `ELFByteSource`. Shared by symbolization and unwind-table compilation.
///
/// Every offset and size read from the file is checked against the file size before
/// it is used, and nothing is allocated in proportion to a count the file claims
/// unless the file is large enough to hold that many entries.
public struct ELFFile {
    public struct Section: Hashable, Sendable {
        /// Index in the section header table (what `sh_link` and `st_shndx` refer to).
        public var index: Int
        public var name: String
        public var type: UInt32
        public var flags: UInt64
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32
        public var info: UInt32
        public var alignment: UInt64
        public var entrySize: UInt64

        /// Whether the section has bytes in the file: not `SHT_NOBITS` (e.g. `.eh_frame` in a
        /// separate debug file) nor `SHT_NULL` (section 0). Only such sections are bounds-checked
        /// and read.
        public var hasFileBytes: Bool { type != ELFFile.sectionTypeNoBits && type != ELFFile.sectionTypeNull }
        /// `SHF_COMPRESSED`: the bytes start with an `Elf64_Chdr`.
        public var isCompressed: Bool { flags & ELFFile.sectionFlagCompressed != 0 }
        /// `SHF_EXECINSTR`.
        public var isExecutable: Bool { flags & ELFFile.sectionFlagExecutable != 0 }
    }

    public struct ProgramHeader: Hashable, Sendable {
        public var type: UInt32
        public var flags: UInt32
        public var offset: UInt64
        public var virtualAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
        public var alignment: UInt64

        /// `PF_X`.
        public var isExecutable: Bool { flags & 1 != 0 }
        /// `PF_W`.
        public var isWritable: Bool { flags & 2 != 0 }
    }

    public static let machineX86_64: UInt16 = 62
    public static let sectionTypeNull: UInt32 = 0
    public static let sectionTypeSymbolTable: UInt32 = 2
    public static let sectionTypeStringTable: UInt32 = 3
    public static let sectionTypeNote: UInt32 = 7
    public static let sectionTypeNoBits: UInt32 = 8
    public static let sectionTypeDynamicSymbols: UInt32 = 11
    public static let sectionFlagExecutable: UInt64 = 0x4
    public static let sectionFlagCompressed: UInt64 = 0x800
    public static let segmentLoad: UInt32 = 1
    public static let segmentNote: UInt32 = 4
    public static let segmentGNUEHFrame: UInt32 = 0x6474_e550
    /// The section name table (`.shstrtab`) is a few hundred bytes in real files.
    public static let maximumSectionNamesSize: UInt64 = 1 << 20
    /// Linked files have tens of sections and segments: a file that claims more than this
    /// many is refused, so that a large planted file cannot make its headers cost
    /// hundreds of megabytes.
    public static let maximumHeaderCount: UInt64 = 1 << 16

    public let source: any ELFByteSource
    /// ELFCLASS64 (else ELFCLASS32): the sizes of addresses, offsets and entries.
    public let is64Bit: Bool
    /// `e_type`: `ET_EXEC` (2), `ET_DYN` (3), ...
    public let type: UInt16
    /// `e_machine`.
    public let machine: UInt16
    public let sections: [Section]
    public let programHeaders: [ProgramHeader]

    /// The file's name in errors.
    public var name: String { source.name }
    public var fileSize: UInt64 { source.byteCount }

    /// An image in memory, e.g. `ELFFile(bytes: contents, name: path)`.
    public init(bytes: [UInt8], name: String = "") throws(ELFFileError) {
        try self.init(source: ELFImage(bytes: bytes, name: name))
    }

    public init(source: any ELFByteSource) throws(ELFFileError) {
        self.source = source
        let fileSize = source.byteCount
        func error(_ kind: ELFFileError.Kind, _ place: String, _ offset: UInt64) -> ELFFileError {
            ELFFileError(kind, file: source.name, place: place, offset: offset)
        }
        let magic = try source.bytes(at: 0, count: min(fileSize, 4), place: "ELF header")
        guard magic == [0x7F, 0x45, 0x4C, 0x46] else { throw error(.notELF, "ELF header", 0) }
        let identification = try source.bytes(at: 0, count: 16, place: "ELF header")
        guard identification[4] == 1 || identification[4] == 2, identification[5] == 1 else {
            throw error(.unsupportedClass(class: identification[4], byteOrder: identification[5]), "ELF header", 4)
        }
        is64Bit = identification[4] == 2
        let layout = is64Bit ? Layout.elf64 : Layout.elf32
        let header = try source.bytes(at: 0, count: UInt64(layout.headerSize), place: "ELF header")
        type = header.littleEndian16(at: 16)
        machine = header.littleEndian16(at: 18)
        let programHeaderOffset = layout.word(header, layout.programHeaderOffset)
        let sectionHeaderOffset = layout.word(header, layout.programHeaderOffset + layout.wordSize)
        // e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx: the header's last ten bytes.
        let counts = layout.headerSize - 10
        let programHeaderEntrySize = UInt64(header.littleEndian16(at: counts))
        var programHeaderCount = UInt64(header.littleEndian16(at: counts + 2))
        let sectionHeaderEntrySize = UInt64(header.littleEndian16(at: counts + 4))
        var sectionHeaderCount = UInt64(header.littleEndian16(at: counts + 6))
        var sectionNameIndex = UInt64(header.littleEndian16(at: counts + 8))

        // Section header table (extended numbering: counts of 0 / 0xffff live in section 0).
        var sections: [Section] = []
        var extendedProgramHeaderCount: UInt64 = 0
        if sectionHeaderOffset != 0 {
            guard sectionHeaderEntrySize >= layout.sectionHeaderSize else {
                throw error(.malformedHeader(field: "e_shentsize", value: sectionHeaderEntrySize), "ELF header", UInt64(counts + 4))
            }
            let first = try source.bytes(at: sectionHeaderOffset, count: sectionHeaderEntrySize, place: "section headers")
            let firstSection = layout.section(in: first, at: 0, index: 0)
            if sectionHeaderCount == 0 { sectionHeaderCount = firstSection.size }
            if sectionNameIndex == 0xFFFF { sectionNameIndex = UInt64(firstSection.link) }
            extendedProgramHeaderCount = UInt64(firstSection.info)
            // The file must hold every header it claims before anything is allocated for them.
            guard sectionHeaderCount <= fileSize / sectionHeaderEntrySize, sectionHeaderCount <= Self.maximumHeaderCount else {
                throw error(.malformedHeader(field: "section header count", value: sectionHeaderCount), "ELF header", UInt64(counts + 6))
            }
            let table = try source.bytes(at: sectionHeaderOffset, count: sectionHeaderCount * sectionHeaderEntrySize,
                                         place: "section headers")
            var nameOffsets: [UInt32] = []
            nameOffsets.reserveCapacity(Int(sectionHeaderCount))
            sections.reserveCapacity(Int(sectionHeaderCount))
            for index in 0..<Int(sectionHeaderCount) {
                let start = index * Int(sectionHeaderEntrySize)
                nameOffsets.append(table.littleEndian32(at: start))
                sections.append(layout.section(in: table, at: start, index: index))
            }
            guard sectionNameIndex < sectionHeaderCount || sectionHeaderCount == 0 else {
                throw error(.malformedHeader(field: "e_shstrndx", value: sectionNameIndex), "ELF header", UInt64(counts + 8))
            }
            if sectionHeaderCount > 0, sectionNameIndex != 0 {
                let namesSection = sections[Int(sectionNameIndex)]
                let names = namesSection.hasFileBytes ? namesSection : nil
                let size = names?.size ?? 0
                guard size <= Self.maximumSectionNamesSize else {
                    throw error(.tooLarge(size: size, limit: Self.maximumSectionNamesSize), "section names", 0)
                }
                let table = try names.map { section throws(ELFFileError) in
                    try source.bytes(at: section.offset, count: section.size, place: "section names")
                } ?? []
                for index in sections.indices where nameOffsets[index] != 0 || !table.isEmpty {
                    sections[index].name = try Self.string(in: table, at: UInt64(nameOffsets[index]),
                                                           file: source.name, place: "section header \(index)")
                }
            }
            // Named first, so that an error says which section lies.
            for section in sections where section.hasFileBytes
                && (section.offset > fileSize || section.size > fileSize - section.offset) {
                let place = section.name.isEmpty ? "section header \(section.index)" : "section header \(section.index) (\(section.name))"
                throw error(.outOfFileBounds(offset: section.offset, size: section.size, fileSize: fileSize), place,
                            UInt64(layout.sectionOffsetField))
            }
        }
        self.sections = sections

        var programHeaders: [ProgramHeader] = []
        if programHeaderOffset != 0 && programHeaderCount != 0 {
            guard programHeaderEntrySize >= layout.programHeaderSize else {
                throw error(.malformedHeader(field: "e_phentsize", value: programHeaderEntrySize), "ELF header", UInt64(counts))
            }
            if programHeaderCount == 0xFFFF { programHeaderCount = extendedProgramHeaderCount }
            guard programHeaderCount <= fileSize / programHeaderEntrySize, programHeaderCount <= Self.maximumHeaderCount else {
                throw error(.malformedHeader(field: "program header count", value: programHeaderCount), "ELF header", UInt64(counts + 2))
            }
            let table = try source.bytes(at: programHeaderOffset, count: programHeaderCount * programHeaderEntrySize,
                                         place: "program headers")
            programHeaders.reserveCapacity(Int(programHeaderCount))
            for index in 0..<Int(programHeaderCount) {
                programHeaders.append(layout.programHeader(in: table, at: index * Int(programHeaderEntrySize)))
            }
        }
        self.programHeaders = programHeaders
    }

    /// The NUL-terminated string at `offset` of a string table held in `table`.
    static func string(in table: [UInt8], at offset: UInt64, file: String, place: String) throws(ELFFileError) -> String {
        guard offset < UInt64(table.count) else {
            throw ELFFileError(.nameOutOfRange(offset: offset, tableSize: UInt64(table.count)), file: file, place: place, offset: 0)
        }
        guard let end = table[Int(offset)...].firstIndex(of: 0) else {
            throw ELFFileError(.unterminatedName(offset: offset), file: file, place: place, offset: 0)
        }
        return String(decoding: table[Int(offset)..<end], as: UTF8.self)
    }

    /// The first section called `name` that has bytes in the file.
    public func section(named name: String) -> Section? {
        sections.first { $0.name == name && $0.hasFileBytes && $0.size > 0 }
    }

    /// The bytes of `section` as stored (still compressed if it is `SHF_COMPRESSED`), at
    /// most `limit` of them (else `.tooLarge`): a section the caller reads whole must be
    /// bounded by what the caller can hold, not by what the file claims.
    public func storedBytes(of section: Section, limit: UInt64) throws(ELFFileError) -> [UInt8] {
        guard section.hasFileBytes else { return [] }
        guard section.size <= limit else {
            throw ELFFileError(.tooLarge(size: section.size, limit: limit), file: name, place: section.name, offset: 0)
        }
        return try source.bytes(at: section.offset, count: section.size, place: section.name)
    }

    /// The file offset holding virtual address `address`, with the number of bytes of the
    /// containing `PT_LOAD` segment's file image from there on.
    public func fileRange(ofVirtualAddress address: UInt64) -> (offset: UInt64, available: UInt64)? {
        for segment in programHeaders where segment.type == Self.segmentLoad {
            guard address >= segment.virtualAddress, address - segment.virtualAddress < segment.fileSize else { continue }
            let offset = segment.offset &+ (address - segment.virtualAddress)
            guard segment.offset <= fileSize, offset < fileSize else { return nil }
            let end = min(fileSize, segment.offset &+ segment.fileSize)
            guard end > offset else { return nil }
            return (offset, end - offset)
        }
        return nil
    }
}

/// Where ELF32 and ELF64 keep the header fields read here (both little-endian).
private struct Layout {
    var wordSize: Int
    var headerSize: Int
    var programHeaderOffset: Int
    var sectionHeaderSize: UInt64
    var programHeaderSize: UInt64
    var sectionOffsetField: Int

    static let elf64 = Layout(wordSize: 8, headerSize: 64, programHeaderOffset: 32, sectionHeaderSize: 64,
                              programHeaderSize: 56, sectionOffsetField: 24)
    static let elf32 = Layout(wordSize: 4, headerSize: 52, programHeaderOffset: 28, sectionHeaderSize: 40,
                              programHeaderSize: 32, sectionOffsetField: 16)

    /// An address, offset or size: 4 or 8 bytes.
    func word(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        wordSize == 8 ? bytes.littleEndian64(at: offset) : UInt64(bytes.littleEndian32(at: offset))
    }

    /// The `Elf32_Shdr`/`Elf64_Shdr` at `start` of `bytes` (which holds `sectionHeaderSize` bytes there).
    func section(in bytes: [UInt8], at start: Int, index: Int) -> ELFFile.Section {
        // name, type (4 bytes each); flags, address, offset, size (words); link, info (4 bytes); alignment, entry size (words)
        let words = start + 8
        let links = words + 4 * wordSize
        return ELFFile.Section(index: index, name: "", type: bytes.littleEndian32(at: start + 4),
                               flags: word(bytes, words), address: word(bytes, words + wordSize),
                               offset: word(bytes, words + 2 * wordSize), size: word(bytes, words + 3 * wordSize),
                               link: bytes.littleEndian32(at: links), info: bytes.littleEndian32(at: links + 4),
                               alignment: word(bytes, links + 8), entrySize: word(bytes, links + 8 + wordSize))
    }

    /// The `Elf32_Phdr`/`Elf64_Phdr` at `start` of `bytes`: ELF64 puts `p_flags` second, ELF32 seventh.
    func programHeader(in bytes: [UInt8], at start: Int) -> ELFFile.ProgramHeader {
        if wordSize == 8 {
            return ELFFile.ProgramHeader(
                type: bytes.littleEndian32(at: start), flags: bytes.littleEndian32(at: start + 4),
                offset: word(bytes, start + 8), virtualAddress: word(bytes, start + 16),
                fileSize: word(bytes, start + 32), memorySize: word(bytes, start + 40), alignment: word(bytes, start + 48))
        }
        return ELFFile.ProgramHeader(
            type: bytes.littleEndian32(at: start), flags: bytes.littleEndian32(at: start + 24),
            offset: word(bytes, start + 4), virtualAddress: word(bytes, start + 8),
            fileSize: word(bytes, start + 16), memorySize: word(bytes, start + 20), alignment: word(bytes, start + 28))
    }
}

extension [UInt8] {
    // Callers index only inside buffers whose size they checked (a whole header, entries
    // of at least their class's size): these trap only on a caller's bug, not on input.
    package func littleEndian16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    package func littleEndian32(at offset: Int) -> UInt32 {
        withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }

    package func littleEndian64(at offset: Int) -> UInt64 {
        withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
}
