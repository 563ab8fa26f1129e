import ELF
import UnwindTableFormat

extension ELFFile {
    /// `source` read by the shared ELF reader, as a file the compiler unwinds (`checkUnwindable`).
    static func unwindable(_ source: any ELFByteSource) throws(UnwindTableError) -> ELFFile {
        // ELF32 is refused before its headers are read: the CFA interpreter knows x86-64 only.
        if source.byteCount >= 6, let identification = try? source.bytes(at: 0, count: 6, place: "ELF header"),
           identification.starts(with: [0x7F, 0x45, 0x4C, 0x46]), identification[4] != 2 {
            throw UnwindTableError(.unsupportedELFClass(class: identification[4], byteOrder: identification[5]),
                                   section: "ELF header", offset: 4)
        }
        let elf: ELFFile
        do throws(ELFFileError) { elf = try ELFFile(source: source) } catch { throw UnwindTableError(error) }
        try checkUnwindable(elf)
        return elf
    }

    /// Whether the compiler unwinds `elf`: ELF64 x86-64 (the CFA interpreter knows its
    /// registers only), an executable or shared object (`ET_REL` needs relocations
    /// before its CFI means anything).
    static func checkUnwindable(_ elf: ELFFile) throws(UnwindTableError) {
        guard elf.is64Bit else {
            throw UnwindTableError(.unsupportedELFClass(class: 1, byteOrder: 1), section: "ELF header", offset: 4)
        }
        guard elf.machine == machineX86_64 else {
            throw UnwindTableError(.unsupportedMachine(elf.machine), section: "ELF header", offset: 18)
        }
        guard elf.type == 2 || elf.type == 3 else {
            throw UnwindTableError(.unsupportedFileType(elf.type), section: "ELF header", offset: 16)
        }
    }
}

extension ByteCursor {
    /// A cursor over the stored bytes of `section` of `elf`, read from its source (whose
    /// reader checked that they lie in the file); offsets count from the section's start.
    init(over section: ELFFile.Section, of elf: ELFFile) throws(UnwindTableError) {
        try self.init(at: section.offset, count: section.size, of: elf, section: section.name, place: section.name)
    }

    /// A cursor over `count` bytes of `elf` at file offset `offset` (`.outOfFileBounds`,
    /// naming `place`, when the file does not hold them), called `section` in errors.
    init(at offset: UInt64, count: UInt64, of elf: ELFFile, section: String, place: String) throws(UnwindTableError) {
        let bytes: [UInt8]
        do throws(ELFFileError) { bytes = try elf.source.bytes(at: offset, count: count, place: place) } catch {
            throw UnwindTableError(error)
        }
        self.init(bytes: bytes, start: 0, end: bytes.count, section: section)
    }
}

extension UnwindTableError {
    /// The compiler's form of an error of the shared ELF reader: same place and offset.
    init(_ error: ELFFileError) {
        let kind: Kind
        switch error.kind {
        case .notELF: kind = .notELF
        case .unsupportedClass(let elfClass, let byteOrder): kind = .unsupportedELFClass(class: elfClass, byteOrder: byteOrder)
        case .malformedHeader(let field, let value): kind = .malformedHeader(field: field, value: value)
        case .outOfFileBounds(let offset, let size, let fileSize):
            kind = .outOfFileBounds(offset: offset, size: size, fileSize: Int(clamping: fileSize))
        case .nameOutOfRange(let offset, _): kind = .malformedHeader(field: "sh_name", value: offset)
        case .unterminatedName: kind = .unterminatedString
        case .tooLarge(let size, _): kind = .malformedHeader(field: "size", value: size)
        case .readFailed: kind = .truncated
        }
        self.init(kind, section: error.place, offset: Int(clamping: error.offset))
    }
}
