import ELF
import UnwindTableFormat

extension ELFFile {
    /// `bytes` read by the shared ELF reader, as a file the compiler unwinds (`checkUnwindable`).
    static func unwindable(_ bytes: [UInt8]) throws(UnwindTableError) -> ELFFile {
        // ELF32 is refused before its headers are read: the CFA interpreter knows x86-64 only.
        if bytes.count >= 6, bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]), bytes[4] != 2 {
            throw UnwindTableError(.unsupportedELFClass(class: bytes[4], byteOrder: bytes[5]), section: "ELF header", offset: 4)
        }
        let elf: ELFFile
        do throws(ELFFileError) { elf = try ELFFile(bytes: bytes) } catch { throw UnwindTableError(error) }
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
    /// A cursor over the stored bytes of `section` in `bytes`, the image its `ELFFile`
    /// read (which checked that they lie in it).
    init(over section: ELFFile.Section, in bytes: [UInt8]) {
        let start = Int(section.offset)
        self.init(bytes: bytes, start: start, end: start + Int(section.size), section: section.name)
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
