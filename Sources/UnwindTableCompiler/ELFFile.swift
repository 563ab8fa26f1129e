import UnwindTableFormat

/// The parts of an ELF64 little-endian file that unwinding needs: its header, section
/// headers (with names) and program headers, read without libelf.
///
/// Every offset and size read from the file is checked against the file size before
/// it is used, and nothing is allocated in proportion to a count the file claims
/// unless the file is large enough to hold that many entries.
struct ELFFile {
    struct Section {
        var name: String
        var type: UInt32
        var flags: UInt64
        var address: UInt64
        var offset: UInt64
        var size: UInt64

        /// Whether the section has bytes in the file: not `SHT_NOBITS` (e.g. `.eh_frame` in a
        /// separate debug file) nor `SHT_NULL` (section 0). Only such sections are bounds-checked
        /// and read.
        var hasFileBytes: Bool { type != ELFFile.sectionTypeNoBits && type != ELFFile.sectionTypeNull }
        var isCompressed: Bool { flags & ELFFile.sectionFlagCompressed != 0 }
    }

    struct ProgramHeader {
        var type: UInt32
        var flags: UInt32
        var offset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
    }

    static let machineX86_64: UInt16 = 62
    static let sectionTypeNull: UInt32 = 0
    static let sectionTypeNoBits: UInt32 = 8
    static let sectionFlagCompressed: UInt64 = 0x800
    static let segmentLoad: UInt32 = 1
    static let segmentGNUEHFrame: UInt32 = 0x6474_e550

    let bytes: [UInt8]
    let type: UInt16
    let sections: [Section]
    let programHeaders: [ProgramHeader]

    init(bytes: [UInt8]) throws(UnwindTableError) {
        self.bytes = bytes
        var header = ByteCursor(bytes: bytes, start: 0, end: bytes.count, section: "ELF header")
        guard bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            throw UnwindTableError(.notELF, section: "ELF header", offset: 0)
        }
        try header.require(64)
        guard bytes[4] == 2, bytes[5] == 1 else {
            throw UnwindTableError(.unsupportedELFClass(class: bytes[4], byteOrder: bytes[5]), section: "ELF header", offset: 4)
        }
        header.position = 16
        let type = try header.u16()
        let machine = try header.u16()
        guard machine == Self.machineX86_64 else {
            throw UnwindTableError(.unsupportedMachine(machine), section: "ELF header", offset: 18)
        }
        guard type == 2 || type == 3 else {
            // ET_EXEC and ET_DYN (separate debug files are one of these too).
            throw UnwindTableError(.unsupportedFileType(type), section: "ELF header", offset: 16)
        }
        self.type = type
        header.position = 32
        let programHeaderOffset = try header.u64()
        let sectionHeaderOffset = try header.u64()
        header.position = 54
        let programHeaderEntrySize = try header.u16()
        var programHeaderCount = UInt64(try header.u16())
        let sectionHeaderEntrySize = try header.u16()
        var sectionHeaderCount = UInt64(try header.u16())
        var sectionNameIndex = UInt64(try header.u16())

        // Section header table (extended numbering: counts of 0 / 0xffff live in section 0).
        var sections: [Section] = []
        var extendedProgramHeaderCount: UInt64 = 0
        if sectionHeaderOffset != 0 {
            guard sectionHeaderEntrySize >= 64 else {
                throw UnwindTableError(.malformedHeader(field: "e_shentsize", value: UInt64(sectionHeaderEntrySize)), section: "ELF header", offset: 58)
            }
            let entrySize = UInt64(sectionHeaderEntrySize)
            try Self.checkBounds(offset: sectionHeaderOffset, size: entrySize, fileSize: bytes.count, section: "section headers")
            var first = ByteCursor(bytes: bytes, start: Int(sectionHeaderOffset), end: bytes.count, section: "section headers")
            try first.skip(32)
            let firstSize = try first.u64()
            let firstLink = try first.u32()
            extendedProgramHeaderCount = UInt64(try first.u32())
            if sectionHeaderCount == 0 { sectionHeaderCount = firstSize }
            if sectionNameIndex == 0xFFFF { sectionNameIndex = UInt64(firstLink) }
            // The file must hold every header it claims before anything is allocated for them.
            guard sectionHeaderCount <= UInt64(bytes.count) / entrySize else {
                throw UnwindTableError(.malformedHeader(field: "section header count", value: sectionHeaderCount), section: "ELF header", offset: 60)
            }
            try Self.checkBounds(offset: sectionHeaderOffset, size: sectionHeaderCount * entrySize, fileSize: bytes.count, section: "section headers")
            var raw: [(nameOffset: UInt32, section: Section, link: UInt32)] = []
            raw.reserveCapacity(Int(sectionHeaderCount))
            for index in 0..<Int(sectionHeaderCount) {
                let start = Int(sectionHeaderOffset) + index * Int(entrySize)
                var cursor = ByteCursor(bytes: bytes, start: Int(sectionHeaderOffset), end: start + 64, section: "section headers")
                cursor.position = start
                let nameOffset = try cursor.u32()
                let sectionType = try cursor.u32()
                let flags = try cursor.u64()
                let address = try cursor.u64()
                let offset = try cursor.u64()
                let size = try cursor.u64()
                let link = try cursor.u32()
                let section = Section(name: "", type: sectionType, flags: flags, address: address, offset: offset, size: size)
                if section.hasFileBytes {
                    try Self.checkBounds(offset: offset, size: size, fileSize: bytes.count, section: "section header \(index)")
                }
                raw.append((nameOffset, section, link))
            }
            guard sectionNameIndex < sectionHeaderCount || sectionHeaderCount == 0 else {
                throw UnwindTableError(.malformedHeader(field: "e_shstrndx", value: sectionNameIndex), section: "ELF header", offset: 62)
            }
            if sectionHeaderCount > 0 {
                // Names come only from a string table whose bounds were checked above.
                let names = raw[Int(sectionNameIndex)].section
                let namesStart = names.hasFileBytes ? Int(names.offset) : 0
                let namesEnd = names.hasFileBytes ? namesStart + Int(names.size) : 0
                for entry in raw {
                    var section = entry.section
                    if UInt64(entry.nameOffset) < UInt64(namesEnd - namesStart) {
                        var cursor = ByteCursor(bytes: bytes, start: namesStart, end: namesEnd, section: "section names")
                        cursor.position = namesStart + Int(entry.nameOffset)
                        section.name = try cursor.cString()
                    }
                    sections.append(section)
                }
            }
        }
        self.sections = sections

        var programHeaders: [ProgramHeader] = []
        if programHeaderOffset != 0 && programHeaderCount != 0 {
            guard programHeaderEntrySize >= 56 else {
                throw UnwindTableError(.malformedHeader(field: "e_phentsize", value: UInt64(programHeaderEntrySize)), section: "ELF header", offset: 54)
            }
            if programHeaderCount == 0xFFFF { programHeaderCount = extendedProgramHeaderCount }
            let entrySize = UInt64(programHeaderEntrySize)
            guard programHeaderCount <= UInt64(bytes.count) / entrySize else {
                throw UnwindTableError(.malformedHeader(field: "program header count", value: programHeaderCount), section: "ELF header", offset: 56)
            }
            try Self.checkBounds(offset: programHeaderOffset, size: programHeaderCount * entrySize, fileSize: bytes.count, section: "program headers")
            for index in 0..<Int(programHeaderCount) {
                let start = Int(programHeaderOffset) + index * Int(entrySize)
                var cursor = ByteCursor(bytes: bytes, start: Int(programHeaderOffset), end: start + 56, section: "program headers")
                cursor.position = start
                let segmentType = try cursor.u32()
                let flags = try cursor.u32()
                let offset = try cursor.u64()
                let virtualAddress = try cursor.u64()
                _ = try cursor.u64()
                let fileSize = try cursor.u64()
                let memorySize = try cursor.u64()
                programHeaders.append(ProgramHeader(type: segmentType, flags: flags, offset: offset, virtualAddress: virtualAddress,
                                                    fileSize: fileSize, memorySize: memorySize))
            }
        }
        self.programHeaders = programHeaders
    }

    static func checkBounds(offset: UInt64, size: UInt64, fileSize: Int, section: String) throws(UnwindTableError) {
        guard offset <= UInt64(fileSize), size <= UInt64(fileSize) - offset else {
            throw UnwindTableError(.outOfFileBounds(offset: offset, size: size, fileSize: fileSize), section: section, offset: 0)
        }
    }

    /// The first section called `name` that has bytes in the file.
    func section(named name: String) -> Section? {
        sections.first { $0.name == name && $0.hasFileBytes && $0.size > 0 }
    }

    /// A cursor over a section's bytes (bounds were checked when the headers were read).
    func cursor(over section: Section) -> ByteCursor {
        let start = Int(section.offset)
        return ByteCursor(bytes: bytes, start: start, end: start + Int(section.size), section: section.name)
    }

    /// The file offset holding virtual address `address`, with the number of bytes of the
    /// containing `PT_LOAD` segment's file image from there on.
    func fileRange(ofVirtualAddress address: UInt64) -> (offset: Int, available: Int)? {
        for segment in programHeaders where segment.type == Self.segmentLoad {
            guard address >= segment.virtualAddress, address - segment.virtualAddress < segment.fileSize else { continue }
            let delta = address - segment.virtualAddress
            let offset = segment.offset &+ delta
            guard segment.offset <= UInt64(bytes.count), offset < UInt64(bytes.count) else { return nil }
            let end = min(UInt64(bytes.count), segment.offset &+ segment.fileSize)
            guard end > offset else { return nil }
            return (Int(offset), Int(end - offset))
        }
        return nil
    }
}
