import UnwindTableFormat

/// `DW_EH_PE_*` pointer encodings of `.eh_frame` and `.eh_frame_hdr` (LSB, "Exception Frames").
///
/// The low nibble says how the value is stored, the high nibble what it is relative to.
enum PointerEncoding {
    static let omit: UInt8 = 0xFF
    static let absolutePointer: UInt8 = 0x00

    // Value formats (low nibble).
    static let uleb128: UInt8 = 0x01
    static let udata2: UInt8 = 0x02
    static let udata4: UInt8 = 0x03
    static let udata8: UInt8 = 0x04
    static let signedAbsolute: UInt8 = 0x08
    static let sleb128: UInt8 = 0x09
    static let sdata2: UInt8 = 0x0A
    static let sdata4: UInt8 = 0x0B
    static let sdata8: UInt8 = 0x0C

    // Applications (bits 4-6); bit 7 is DW_EH_PE_indirect.
    static let pcRelative: UInt8 = 0x10
    static let textRelative: UInt8 = 0x20
    static let dataRelative: UInt8 = 0x30
    static let functionRelative: UInt8 = 0x40
    static let aligned: UInt8 = 0x50
    static let indirect: UInt8 = 0x80

    /// The bases that relative encodings refer to; `nil` where the context has none.
    struct Bases {
        /// Virtual address of the first byte of the section being read.
        var sectionAddress: UInt64
        var text: UInt64?
        var data: UInt64?
    }
}

extension ByteCursor {
    /// A value stored in the format of `encoding`'s low nibble, as 64 bits (sign-extended
    /// for the signed formats).
    mutating func encodedValue(_ encoding: UInt8) throws(UnwindTableError) -> UInt64 {
        let start = position
        switch encoding & 0x0F {
        case PointerEncoding.absolutePointer, PointerEncoding.udata8, PointerEncoding.signedAbsolute, PointerEncoding.sdata8:
            return try u64()
        case PointerEncoding.uleb128: return try uleb128()
        case PointerEncoding.udata2: return UInt64(try u16())
        case PointerEncoding.udata4: return UInt64(try u32())
        case PointerEncoding.sleb128: return UInt64(bitPattern: try sleb128())
        case PointerEncoding.sdata2: return UInt64(bitPattern: Int64(Int16(bitPattern: try u16())))
        case PointerEncoding.sdata4: return UInt64(bitPattern: Int64(Int32(bitPattern: try u32())))
        default: throw error(.unsupportedPointerEncoding(encoding), at: start)
        }
    }

    /// A pointer in `encoding`, resolved to a virtual address. Indirect and aligned
    /// pointers cannot be resolved from the file alone and are rejected.
    mutating func encodedPointer(_ encoding: UInt8, bases: PointerEncoding.Bases) throws(UnwindTableError) -> UInt64 {
        let start = position
        let fieldAddress = bases.sectionAddress &+ UInt64(start - sectionStart)
        guard encoding & PointerEncoding.indirect == 0 else {
            throw error(.unsupportedPointerEncoding(encoding), at: start)
        }
        let value = try encodedValue(encoding)
        switch encoding & 0x70 {
        case 0: return value
        case PointerEncoding.pcRelative: return fieldAddress &+ value
        case PointerEncoding.textRelative:
            guard let text = bases.text else { throw error(.unsupportedPointerEncoding(encoding), at: start) }
            return text &+ value
        case PointerEncoding.dataRelative:
            guard let data = bases.data else { throw error(.unsupportedPointerEncoding(encoding), at: start) }
            return data &+ value
        default: throw error(.unsupportedPointerEncoding(encoding), at: start)
        }
    }

    /// Skips a pointer in `encoding` without resolving it (personality routines, LSDAs).
    mutating func skipEncodedPointer(_ encoding: UInt8) throws(UnwindTableError) {
        guard encoding != PointerEncoding.omit else { return }
        _ = try encodedValue(encoding)
    }
}
