/// A small ELF64 little-endian file built byte by byte, so that tests can corrupt
/// one field at a time: two program headers (`PT_LOAD`, `PT_NOTE`), a build id note,
/// `.gnu_debuglink`, `.symtab` with `.strtab`, `.text` and `.shstrtab`.
struct SyntheticELF {
    static let buildID: [UInt8] = (1...20).map { UInt8($0 * 7) }
    static let debugLinkName = "program.debug"
    static let debugLinkCRC: UInt32 = 0xC0FF_EE11
    /// Section indices.
    static let noteIndex = 1, debugLinkIndex = 2, stringsIndex = 3, symbolsIndex = 4, namesIndex = 5, textIndex = 6
    static let sectionNames = ["", ".note.gnu.build-id", ".gnu_debuglink", ".strtab", ".symtab", ".shstrtab", ".text"]

    var bytes: [UInt8] = []
    /// `e_shoff`.
    var sectionHeaderOffset = 0
    /// `e_phoff`.
    let programHeaderOffset = 64

    init() {
        bytes = [UInt8](repeating: 0, count: 64 + 2 * 56)
        let note = le(UInt32(4)) + le(UInt32(Self.buildID.count)) + le(UInt32(3)) + Array("GNU\0".utf8) + Self.buildID
        let noteOffset = append(note)
        var link = Array(Self.debugLinkName.utf8) + [0]
        while link.count % 4 != 0 { link.append(0) }
        let linkOffset = append(link + le(Self.debugLinkCRC))
        let strings = [0] + Array("main\0helper\0".utf8)
        let stringsOffset = append(strings)
        align(8)
        let text = [UInt8](repeating: 0x90, count: 32)
        let textOffset = append(text)
        // Null symbol, `main` (global function), `helper` (local function).
        let symbols = [UInt8](repeating: 0, count: 24)
            + symbol(name: 1, info: 0x12, section: UInt16(Self.textIndex), value: 0x401000, size: 16)
            + symbol(name: 6, info: 0x02, section: UInt16(Self.textIndex), value: 0x401010, size: 16)
        let symbolsOffset = append(symbols)
        var names: [UInt8] = []
        var nameOffsets: [UInt32] = []
        for name in Self.sectionNames {
            nameOffsets.append(UInt32(names.count))
            names += Array(name.utf8) + [0]
        }
        let namesOffset = append(names)
        align(8)
        sectionHeaderOffset = bytes.count
        // name, type, flags, address, offset, size, link, info, alignment, entry size
        let headers: [[UInt8]] = [
            [UInt8](repeating: 0, count: 64),
            section(nameOffsets[1], type: 7, flags: 2, offset: noteOffset, size: note.count, alignment: 4),
            section(nameOffsets[2], type: 1, flags: 0, offset: linkOffset, size: link.count + 4, alignment: 4),
            section(nameOffsets[3], type: 3, flags: 0, offset: stringsOffset, size: strings.count, alignment: 1),
            section(nameOffsets[4], type: 2, flags: 0, offset: symbolsOffset, size: symbols.count, link: UInt32(Self.stringsIndex),
                    alignment: 8, entrySize: 24),
            section(nameOffsets[5], type: 3, flags: 0, offset: namesOffset, size: names.count, alignment: 1),
            section(nameOffsets[6], type: 1, flags: 6, offset: textOffset, size: text.count, address: 0x401000, alignment: 16),
        ]
        for header in headers { bytes += header }

        // ELF header: magic, ELF64, little-endian, version 1; ET_DYN, EM_X86_64.
        bytes.replaceSubrange(0..<16, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1] + [UInt8](repeating: 0, count: 9))
        put(le(UInt16(3)) + le(UInt16(62)) + le(UInt32(1)), at: 16)
        put(le(UInt64(programHeaderOffset)) + le(UInt64(sectionHeaderOffset)), at: 32)
        put(le(UInt32(0)) + le(UInt16(64)) + le(UInt16(56)) + le(UInt16(2)) + le(UInt16(64))
            + le(UInt16(headers.count)) + le(UInt16(Self.namesIndex)), at: 48)
        // PT_LOAD of the whole file (r-x), PT_NOTE of the note.
        put(le(UInt32(1)) + le(UInt32(5)) + le(UInt64(0)) + le(UInt64(0x400000)) + le(UInt64(0x400000))
            + le(UInt64(bytes.count)) + le(UInt64(bytes.count)) + le(UInt64(0x1000)), at: 64)
        put(le(UInt32(4)) + le(UInt32(4)) + le(UInt64(noteOffset)) + le(UInt64(0x400000 + noteOffset)) + le(UInt64(0x400000 + noteOffset))
            + le(UInt64(note.count)) + le(UInt64(note.count)) + le(UInt64(4)), at: 64 + 56)
    }

    /// File offset of field `field` (byte offset inside `Elf64_Shdr`) of section `index`'s header.
    func sectionHeaderField(_ index: Int, _ field: Int) -> Int { sectionHeaderOffset + index * 64 + field }

    mutating func put(_ value: [UInt8], at offset: Int) {
        bytes.replaceSubrange(offset..<offset + value.count, with: value)
    }

    private mutating func append(_ data: [UInt8]) -> Int {
        let offset = bytes.count
        bytes += data
        return offset
    }

    private mutating func align(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    private func symbol(name: UInt32, info: UInt8, section: UInt16, value: UInt64, size: UInt64) -> [UInt8] {
        le(name) + [info, 0] + le(section) + le(value) + le(size)
    }

    private func section(_ name: UInt32, type: UInt32, flags: UInt64, offset: Int, size: Int, link: UInt32 = 0,
                         address: UInt64 = 0, alignment: UInt64, entrySize: UInt64 = 0) -> [UInt8] {
        le(name) + le(type) + le(flags) + le(address) + le(UInt64(offset)) + le(UInt64(size)) + le(link) + le(UInt32(0))
            + le(alignment) + le(entrySize)
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
