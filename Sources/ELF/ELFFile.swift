/// The structure of an ELF64 little-endian file: its header, section headers (with
/// names) and program headers, read without libelf from any `ELFByteSource`. Shared by
/// symbolization and unwind-table compilation.
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

    public let source: any ELFByteSource
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
        let header = try source.bytes(at: 0, count: 64, place: "ELF header")
        guard header[4] == 2, header[5] == 1 else {
            throw error(.unsupportedClass(class: header[4], byteOrder: header[5]), "ELF header", 4)
        }
        type = header.littleEndian16(at: 16)
        machine = header.littleEndian16(at: 18)
        let programHeaderOffset = header.littleEndian64(at: 32)
        let sectionHeaderOffset = header.littleEndian64(at: 40)
        let programHeaderEntrySize = UInt64(header.littleEndian16(at: 54))
        var programHeaderCount = UInt64(header.littleEndian16(at: 56))
        let sectionHeaderEntrySize = UInt64(header.littleEndian16(at: 58))
        var sectionHeaderCount = UInt64(header.littleEndian16(at: 60))
        var sectionNameIndex = UInt64(header.littleEndian16(at: 62))

        // Section header table (extended numbering: counts of 0 / 0xffff live in section 0).
        var sections: [Section] = []
        var extendedProgramHeaderCount: UInt64 = 0
        if sectionHeaderOffset != 0 {
            guard sectionHeaderEntrySize >= 64 else {
                throw error(.malformedHeader(field: "e_shentsize", value: sectionHeaderEntrySize), "ELF header", 58)
            }
            let first = try source.bytes(at: sectionHeaderOffset, count: sectionHeaderEntrySize, place: "section headers")
            if sectionHeaderCount == 0 { sectionHeaderCount = first.littleEndian64(at: 32) }
            if sectionNameIndex == 0xFFFF { sectionNameIndex = UInt64(first.littleEndian32(at: 40)) }
            extendedProgramHeaderCount = UInt64(first.littleEndian32(at: 44))
            // The file must hold every header it claims before anything is allocated for them.
            guard sectionHeaderCount <= fileSize / sectionHeaderEntrySize else {
                throw error(.malformedHeader(field: "section header count", value: sectionHeaderCount), "ELF header", 60)
            }
            let table = try source.bytes(at: sectionHeaderOffset, count: sectionHeaderCount * sectionHeaderEntrySize,
                                         place: "section headers")
            var nameOffsets: [UInt32] = []
            nameOffsets.reserveCapacity(Int(sectionHeaderCount))
            sections.reserveCapacity(Int(sectionHeaderCount))
            for index in 0..<Int(sectionHeaderCount) {
                let start = index * Int(sectionHeaderEntrySize)
                let section = Section(index: index, name: "", type: table.littleEndian32(at: start + 4),
                                      flags: table.littleEndian64(at: start + 8), address: table.littleEndian64(at: start + 16),
                                      offset: table.littleEndian64(at: start + 24), size: table.littleEndian64(at: start + 32),
                                      link: table.littleEndian32(at: start + 40), info: table.littleEndian32(at: start + 44),
                                      alignment: table.littleEndian64(at: start + 48), entrySize: table.littleEndian64(at: start + 56))
                nameOffsets.append(table.littleEndian32(at: start))
                sections.append(section)
            }
            guard sectionNameIndex < sectionHeaderCount || sectionHeaderCount == 0 else {
                throw error(.malformedHeader(field: "e_shstrndx", value: sectionNameIndex), "ELF header", 62)
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
                throw error(.outOfFileBounds(offset: section.offset, size: section.size, fileSize: fileSize), place, 24)
            }
        }
        self.sections = sections

        var programHeaders: [ProgramHeader] = []
        if programHeaderOffset != 0 && programHeaderCount != 0 {
            guard programHeaderEntrySize >= 56 else {
                throw error(.malformedHeader(field: "e_phentsize", value: programHeaderEntrySize), "ELF header", 54)
            }
            if programHeaderCount == 0xFFFF { programHeaderCount = extendedProgramHeaderCount }
            guard programHeaderCount <= fileSize / programHeaderEntrySize else {
                throw error(.malformedHeader(field: "program header count", value: programHeaderCount), "ELF header", 56)
            }
            let table = try source.bytes(at: programHeaderOffset, count: programHeaderCount * programHeaderEntrySize,
                                         place: "program headers")
            programHeaders.reserveCapacity(Int(programHeaderCount))
            for index in 0..<Int(programHeaderCount) {
                let start = index * Int(programHeaderEntrySize)
                programHeaders.append(ProgramHeader(
                    type: table.littleEndian32(at: start), flags: table.littleEndian32(at: start + 4),
                    offset: table.littleEndian64(at: start + 8), virtualAddress: table.littleEndian64(at: start + 16),
                    fileSize: table.littleEndian64(at: start + 32), memorySize: table.littleEndian64(at: start + 40),
                    alignment: table.littleEndian64(at: start + 48)))
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

extension [UInt8] {
    // Callers index only inside buffers whose size they checked (a 64-byte header, entries
    // of at least the ELF64 size): these trap only on a bug of this module, not on input.
    func littleEndian16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    func littleEndian32(at offset: Int) -> UInt32 {
        withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }

    func littleEndian64(at offset: Int) -> UInt64 {
        withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
}
