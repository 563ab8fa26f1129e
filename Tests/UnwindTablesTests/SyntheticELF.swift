@testable import UnwindTableCompiler
@testable import UnwindTableFormat

func uleb(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    repeat {
        var byte = UInt8(value & 0x7F)
        value >>= 7
        if value != 0 { byte |= 0x80 }
        bytes.append(byte)
    } while value != 0
    return bytes
}

func sleb(_ value: Int64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    while true {
        let byte = UInt8(value & 0x7F)
        value >>= 7
        if (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0) { bytes.append(byte); return bytes }
        bytes.append(byte | 0x80)
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// Builds `.eh_frame` or `.debug_frame` contents entry by entry.
struct CFIBuilder {
    enum Flavor { case ehFrame, debugFrame }
    let flavor: Flavor
    /// Virtual address of the section (for pc-relative pointers).
    let sectionAddress: UInt64
    var bytes: [UInt8] = []

    init(_ flavor: Flavor, sectionAddress: UInt64 = 0x2000) {
        self.flavor = flavor
        self.sectionAddress = flavor == .ehFrame ? sectionAddress : 0
    }

    /// Appends a CIE and returns its offset. The default is GCC's x86-64 CIE:
    /// "zR", pc-relative sdata4 addresses, CFA = rsp+8, return address at CFA-8.
    @discardableResult
    mutating func cie(version: UInt8 = 1, augmentation: String? = nil, augmentationData: [UInt8]? = nil,
                      returnAddressRegister: UInt8 = 16,
                      instructions: [UInt8] = [0x0C, 0x07, 0x08, 0x90, 0x01], dwarf64: Bool = false) -> Int {
        let augmentation = augmentation ?? (flavor == .ehFrame ? "zR" : "")
        var body: [UInt8] = []
        switch flavor {
        case .ehFrame: body += dwarf64 ? le(UInt64(0)) : le(UInt32(0))
        case .debugFrame: body += dwarf64 ? le(UInt64.max) : le(UInt32.max)
        }
        body.append(version)
        body += Array(augmentation.utf8) + [0]
        if version == 4 { body += [8, 0] }
        body += uleb(1) + sleb(-8)
        body += version == 1 ? [returnAddressRegister] : uleb(UInt64(returnAddressRegister))
        if augmentation.hasPrefix("z") {
            let data = augmentationData ?? [0x1B]
            body += uleb(UInt64(data.count)) + data
        }
        body += instructions
        return append(body, dwarf64: dwarf64)
    }

    /// Appends an FDE for `start..<start+length` (pc-relative sdata4 in .eh_frame).
    @discardableResult
    mutating func fde(cie: Int, start: UInt64, length: UInt64, instructions: [UInt8],
                      augmentationData: [UInt8] = [], encoding: UInt8 = 0x1B, dwarf64: Bool = false) -> Int {
        let entryOffset = bytes.count
        let idOffset = entryOffset + (dwarf64 ? 12 : 4)
        var body: [UInt8] = []
        switch flavor {
        case .ehFrame:
            body += dwarf64 ? le(UInt64(idOffset - cie)) : le(UInt32(idOffset - cie))
            let fieldAddress = sectionAddress + UInt64(idOffset + (dwarf64 ? 8 : 4))
            switch encoding {
            case 0x1B: body += le(Int32(truncatingIfNeeded: Int64(bitPattern: start &- fieldAddress))) + le(UInt32(length))
            case 0x03: body += le(UInt32(start)) + le(UInt32(length))
            case 0x00: body += le(start) + le(length)
            default: fatalError("encoding not built by this test helper")
            }
            body += uleb(UInt64(augmentationData.count)) + augmentationData
        case .debugFrame:
            body += dwarf64 ? le(UInt64(cie)) : le(UInt32(cie))
            body += le(start) + le(length)
        }
        body += instructions
        return append(body, dwarf64: dwarf64)
    }

    private mutating func append(_ body: [UInt8], dwarf64: Bool) -> Int {
        let offset = bytes.count
        if dwarf64 { bytes += le(UInt32.max) + le(UInt64(body.count)) } else { bytes += le(UInt32(body.count)) }
        bytes += body
        return offset
    }
}

/// A minimal ELF64 x86-64 shared object holding the given sections (no program headers).
func makeELF(ehFrame: [UInt8]? = nil, ehFrameAddress: UInt64 = 0x2000, debugFrame: [UInt8]? = nil) -> [UInt8] {
    var sections: [(name: String, type: UInt32, address: UInt64, data: [UInt8])] = [("", 0, 0, [])]
    if let ehFrame { sections.append((".eh_frame", 1, ehFrameAddress, ehFrame)) }
    if let debugFrame { sections.append((".debug_frame", 1, 0, debugFrame)) }
    var names: [UInt8] = [0]
    var nameOffsets: [UInt32] = [0]
    for section in sections.dropFirst() {
        nameOffsets.append(UInt32(names.count))
        names += Array(section.name.utf8) + [0]
    }
    nameOffsets.append(UInt32(names.count))
    names += Array(".shstrtab".utf8) + [0]
    sections.append((".shstrtab", 3, 0, names))

    var file = [UInt8](repeating: 0, count: 64)
    var offsets: [UInt64] = []
    for section in sections {
        offsets.append(UInt64(file.count))
        file += section.data
    }
    while file.count % 8 != 0 { file.append(0) }
    let sectionHeaderOffset = UInt64(file.count)
    for (index, section) in sections.enumerated() {
        var header: [UInt8] = le(nameOffsets[index]) + le(section.type) + le(UInt64(section.type == 1 ? 2 : 0)) + le(section.address)
        header += le(index == 0 ? 0 : offsets[index]) + le(UInt64(section.data.count)) + le(UInt32(0)) + le(UInt32(0))
        header += le(UInt64(1)) + le(UInt64(0))
        file += header
    }
    var header: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    header += le(UInt16(3)) + le(UInt16(62)) + le(UInt32(1)) + le(UInt64(0)) + le(UInt64(0)) + le(sectionHeaderOffset)
    header += le(UInt32(0)) + le(UInt16(64)) + le(UInt16(56)) + le(UInt16(0)) + le(UInt16(64))
    header += le(UInt16(sections.count)) + le(UInt16(sections.count - 1))
    file.replaceSubrange(0..<64, with: header)
    return file
}
