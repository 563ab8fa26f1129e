/// Why an ELF file's unwind information, or a serialized table, could not be read, and where.
///
/// Every malformed, truncated or hostile input ends in one of these, never in a trap:
/// the compiler reads files the aggregator does not trust.
public struct UnwindTableError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        // MARK: ELF container
        /// The file does not start with `\x7fELF`.
        case notELF
        /// Only ELF64 little-endian files are read.
        case unsupportedELFClass(class: UInt8, byteOrder: UInt8)
        /// The CFA interpreter knows the x86-64 register set only.
        case unsupportedMachine(UInt16)
        /// Relocatable objects (`ET_REL`) need relocations applied before their CFI means anything.
        case unsupportedFileType(UInt16)
        /// A header field that cannot be valid (a section header size below 64, an index past the table...).
        case malformedHeader(field: String, value: UInt64)
        /// A section or segment whose bytes lie (partly) outside the file.
        case outOfFileBounds(offset: UInt64, size: UInt64, fileSize: Int)
        /// Neither `.eh_frame` nor `.debug_frame` (nor a `PT_GNU_EH_FRAME` segment) exists.
        case noUnwindInformation
        /// A compressed (`SHF_COMPRESSED`) section holds unwind information, and no
        /// decompressor was given to read it.
        case compressedSection
        /// An `SHF_COMPRESSED` section whose `ch_type` is neither zlib (1) nor zstd (2).
        case unsupportedCompression(type: UInt32)
        /// A compressed section that claims (`ch_size`) more bytes than the limit, or more
        /// than its compressed size can hold.
        case compressedSectionTooLarge(declaredSize: UInt64, limit: Int)
        /// The compressed data is not a valid stream, or the decompressor lacks its format.
        case decompressionFailed(format: SectionCompression, reason: String)
        /// The data decompresses to another size than `ch_size` declares (`actualSize` nil: more).
        case decompressedSizeMismatch(declaredSize: UInt64, actualSize: Int?)

        // MARK: Byte-level
        /// The data ends inside a value or an entry.
        case truncated
        /// A LEB128 number longer than 64 bits.
        case malformedLEB128
        /// A string without its terminating NUL.
        case unterminatedString

        // MARK: Call frame information
        /// An entry length that runs past the end of its section.
        case entryLengthOutOfBounds(length: UInt64)
        /// An FDE whose CIE pointer does not lead to a CIE inside the section.
        case badCIEPointer(target: Int64)
        /// A CIE version other than 1 (`.eh_frame`: 1 or 3; `.debug_frame`: 1, 3 or 4).
        case unsupportedCIEVersion(UInt8)
        /// An augmentation string this parser cannot skip safely (no leading `z`, or an unknown letter).
        case unsupportedAugmentation(String)
        /// A `DW_EH_PE_*` pointer encoding that is invalid or unsupported where it appears.
        case unsupportedPointerEncoding(UInt8)
        /// A `.debug_frame` CIE with an address size other than 8 or a non-zero segment selector size.
        case unsupportedAddressSize(UInt8)
        /// A CFA instruction opcode this interpreter does not know.
        case unknownCFAInstruction(UInt8)
        /// `DW_CFA_restore_state` without a matching `DW_CFA_remember_state`.
        case restoreStateWithoutRemember
        /// More nested `DW_CFA_remember_state` than the interpreter's bound.
        case stateStackTooDeep(limit: Int)
        /// A location instruction that moves backwards or past the end of the address space.
        case locationOutOfRange(UInt64)
        /// An instruction that only a CIE may hold appeared in an FDE, or the reverse.
        case misplacedInstruction(UInt8)
        /// The covered addresses span more than the 32-bit offsets of a table entry can hold.
        case addressSpanTooLarge(UInt64)

        // MARK: Serialized tables
        /// The serialized table does not start with the magic `TUNW`.
        case badTableMagic
        /// A serialized table version this build does not read.
        case unsupportedTableVersion(UInt16)
        /// A header field of a serialized table that is inconsistent with its size or with this format.
        case badTableField(field: String, value: UInt64)
        /// Entry `index` does not start strictly after the previous one.
        case unsortedEntries(index: Int)
        /// Entry `index` holds a rule encoding that is invalid or not canonical.
        case invalidEntry(index: Int, packed: UInt32)
    }

    public var kind: Kind
    /// Where the error is: a section name (`.eh_frame`), `ELF header`, `section headers`,
    /// `program headers` or `serialized table`.
    public var section: String
    /// Byte offset, from the start of `section`, of the value or entry in error.
    public var offset: Int
    /// Which file the error is in: the mapped file itself or its separate debug file.
    public var file: File

    /// The file an error is in.
    public enum File: Hashable, Sendable {
        /// The ELF file whose table is compiled.
        case main
        /// Its separate debug file (found by build id or `.gnu_debuglink`).
        case separateDebugFile
    }

    public init(_ kind: Kind, section: String, offset: Int, file: File = .main) {
        self.kind = kind
        self.section = section
        self.offset = offset
        self.file = file
    }

    public var description: String {
        let what: String
        switch kind {
        case .notELF: what = "not an ELF file (no \\x7fELF magic)"
        case .unsupportedELFClass(let elfClass, let order):
            what = "ELF class \(elfClass), byte order \(order) is not supported (only ELF64 little-endian is read)"
        case .unsupportedMachine(let machine):
            what = "machine \(machine) is not supported (only x86-64, EM_X86_64 = 62, is unwound)"
        case .unsupportedFileType(let type):
            what = "ELF type \(type) is not supported (use an executable or shared object, not an unlinked object)"
        case .malformedHeader(let field, let value): what = "\(field) has the invalid value \(value)"
        case .outOfFileBounds(let offset, let size, let fileSize):
            what = "bytes \(offset)..<\(offset &+ size) lie outside the file (\(fileSize) bytes); the file is truncated or corrupt"
        case .noUnwindInformation: what = "the file has no .eh_frame, .debug_frame or PT_GNU_EH_FRAME"
        case .compressedSection:
            what = "the section is compressed (SHF_COMPRESSED) and no decompressor was given; pass one, or decompress the file with `objcopy --decompress-debug-sections`"
        case .unsupportedCompression(let type):
            what = "compression type \(type) (ch_type) is not supported (only zlib = 1 and zstd = 2 are)"
        case .compressedSectionTooLarge(let declared, let limit):
            what = "the section claims \(declared) decompressed bytes (ch_size), more than the limit \(limit) or than its compressed data can hold; the file is corrupt, or raise the limit"
        case .decompressionFailed(let format, let reason):
            what = "\(format) decompression failed: \(reason); the section is corrupt"
        case .decompressedSizeMismatch(let declared, let actual):
            let produced = actual.map { "\($0) bytes" } ?? "more bytes"
            what = "the section decompresses to \(produced), not the \(declared) its ch_size declares; the file is corrupt"
        case .truncated: what = "the data ends inside a value"
        case .malformedLEB128: what = "a LEB128 number is longer than 64 bits"
        case .unterminatedString: what = "a string has no terminating NUL"
        case .entryLengthOutOfBounds(let length): what = "entry length \(length) runs past the end of the section"
        case .badCIEPointer(let target): what = "the FDE's CIE pointer leads to offset \(target), where there is no CIE"
        case .unsupportedCIEVersion(let version): what = "CIE version \(version) is not supported"
        case .unsupportedAugmentation(let augmentation): what = "CIE augmentation \"\(augmentation)\" is not supported"
        case .unsupportedPointerEncoding(let encoding): what = "pointer encoding 0x\(String(encoding, radix: 16)) is invalid or not supported here"
        case .unsupportedAddressSize(let size): what = "address size \(size) is not supported (expected 8, no segment selector)"
        case .unknownCFAInstruction(let opcode): what = "unknown CFA instruction 0x\(String(opcode, radix: 16))"
        case .restoreStateWithoutRemember: what = "DW_CFA_restore_state without DW_CFA_remember_state"
        case .stateStackTooDeep(let limit): what = "more than \(limit) nested DW_CFA_remember_state"
        case .locationOutOfRange(let location): what = "location 0x\(String(location, radix: 16)) moves backwards or overflows"
        case .misplacedInstruction(let opcode): what = "CFA instruction 0x\(String(opcode, radix: 16)) is not allowed here"
        case .addressSpanTooLarge(let span): what = "covered addresses span \(span) bytes, more than 32-bit entry offsets can address"
        case .badTableMagic: what = "not a serialized unwind table (no TUNW magic)"
        case .unsupportedTableVersion(let version): what = "unwind table version \(version) is not supported (this build reads version \(UnwindTable.formatVersion))"
        case .badTableField(let field, let value): what = "\(field) has the invalid value \(value)"
        case .unsortedEntries(let index): what = "entry \(index) does not start after entry \(index - 1)"
        case .invalidEntry(let index, let packed): what = "entry \(index) has the invalid rule word 0x\(String(packed, radix: 16))"
        }
        let place = file == .separateDebugFile ? "separate debug file, " : ""
        return "\(place)\(section) at offset 0x\(String(offset, radix: 16)): \(what)"
    }
}
