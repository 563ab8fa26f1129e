import UnwindTableFormat

/// The two containers of DWARF call frame information. They share the entry layout and
/// differ in how CIEs are marked, how FDEs point to their CIE and how addresses are stored.
enum CallFrameFlavor: Sendable {
    /// `.eh_frame`: CIE id 0, FDE CIE pointers relative to the pointer, `DW_EH_PE_*` addresses.
    case ehFrame
    /// `.debug_frame`: CIE id all ones, FDE CIE pointers are section offsets, raw addresses.
    case debugFrame
}

/// A Common Information Entry: what all FDEs that point to it share.
struct CommonInformationEntry {
    /// Offset of the entry (its length field) in the section.
    var offset: Int
    var version: UInt8
    var codeAlignment: UInt64
    var dataAlignment: Int64
    var returnAddressRegister: UInt64
    /// How FDE addresses are encoded (`DW_EH_PE_absptr` in `.debug_frame`).
    var pointerEncoding: UInt8
    /// Whether FDEs carry augmentation data (a `z` augmentation), which is skipped.
    var hasAugmentationData: Bool
    /// `S`: frames of this CIE are signal trampolines.
    var isSignalFrame: Bool
    /// Absolute byte range of the initial instructions.
    var instructions: Range<Int>
}

/// A Frame Description Entry: the CFA program of one address range.
struct FrameDescriptionEntry {
    /// Offset of the entry in the section.
    var offset: Int
    /// Offset of its CIE in the section.
    var cieOffset: Int
    var start: UInt64
    var end: UInt64
    /// Absolute byte range of the instructions.
    var instructions: Range<Int>
}

/// One `.eh_frame` or `.debug_frame` section, parsed into its CIEs and FDEs.
struct CallFrameSection {
    let flavor: CallFrameFlavor
    let cursor: ByteCursor
    let bases: PointerEncoding.Bases
    private(set) var cies: [Int: CommonInformationEntry] = [:]
    private(set) var fdes: [FrameDescriptionEntry] = []
    /// FDEs of zero length or at a tombstone address (discarded by the linker).
    private(set) var discardedFDEs = 0

    init(flavor: CallFrameFlavor, cursor: ByteCursor, bases: PointerEncoding.Bases) throws(UnwindTableError) {
        self.flavor = flavor
        self.cursor = cursor
        self.bases = bases
        try parse()
    }

    /// The bounds of the entry at absolute position `start`: whether it uses 64-bit
    /// offsets, where its body (after the length) starts and where it ends; `nil` for a
    /// zero-length terminator.
    private func entryBounds(at start: Int) throws(UnwindTableError) -> (is64: Bool, body: Int, end: Int)? {
        var entry = cursor
        entry.position = start
        var length = UInt64(try entry.u32())
        var is64 = false
        if length == 0xFFFF_FFFF {
            length = try entry.u64()
            is64 = true
        }
        if length == 0 { return nil }
        guard length <= UInt64(entry.remaining) else {
            throw entry.error(.entryLengthOutOfBounds(length: length), at: start)
        }
        return (is64, entry.position, entry.position + Int(length))
    }

    private mutating func parse() throws(UnwindTableError) {
        var position = cursor.sectionStart
        while position < cursor.end {
            guard let (is64, body, end) = try entryBounds(at: position) else {
                // A zero length ends .eh_frame; in .debug_frame it is padding.
                if flavor == .ehFrame { return }
                position += 4
                continue
            }
            var entry = cursor.subrange(body, end)
            let idPosition = entry.position
            let id = is64 ? try entry.u64() : UInt64(try entry.u32())
            if isCIEIdentifier(id, is64: is64) {
                if cies[position - cursor.sectionStart] == nil {
                    cies[position - cursor.sectionStart] = try parseCIE(entry: entry, offset: position - cursor.sectionStart)
                }
            } else {
                let target: Int64
                switch flavor {
                case .ehFrame:
                    let (difference, overflow) = Int64(idPosition - cursor.sectionStart).subtractingReportingOverflow(Int64(bitPattern: id))
                    guard !overflow else { throw cursor.error(.badCIEPointer(target: Int64.min), at: position) }
                    target = difference
                case .debugFrame: target = Int64(bitPattern: id)
                }
                let cie = try commonInformationEntry(at: target, referencedFrom: position)
                try parseFDE(entry: entry, offset: position - cursor.sectionStart, cie: cie)
            }
            position = end
        }
    }

    private func isCIEIdentifier(_ id: UInt64, is64: Bool) -> Bool {
        switch flavor {
        case .ehFrame: return id == 0
        case .debugFrame: return is64 ? id == UInt64.max : id == 0xFFFF_FFFF
        }
    }

    /// The CIE at section offset `target`, parsed on first use.
    private mutating func commonInformationEntry(at target: Int64, referencedFrom position: Int) throws(UnwindTableError) -> CommonInformationEntry {
        guard target >= 0, target < Int64(cursor.end - cursor.sectionStart) else {
            throw cursor.error(.badCIEPointer(target: target), at: position)
        }
        if let cie = cies[Int(target)] { return cie }
        let start = cursor.sectionStart + Int(target)
        guard let (is64, body, end) = try entryBounds(at: start) else {
            throw cursor.error(.badCIEPointer(target: target), at: position)
        }
        var entry = cursor.subrange(body, end)
        let id = is64 ? try entry.u64() : UInt64(try entry.u32())
        guard isCIEIdentifier(id, is64: is64) else { throw cursor.error(.badCIEPointer(target: target), at: position) }
        let cie = try parseCIE(entry: entry, offset: Int(target))
        cies[Int(target)] = cie
        return cie
    }

    private func parseCIE(entry: ByteCursor, offset: Int) throws(UnwindTableError) -> CommonInformationEntry {
        var entry = entry
        let versionPosition = entry.position
        let version = try entry.u8()
        switch (flavor, version) {
        case (.ehFrame, 1), (.ehFrame, 3), (.debugFrame, 1), (.debugFrame, 3), (.debugFrame, 4): break
        default: throw entry.error(.unsupportedCIEVersion(version), at: versionPosition)
        }
        let augmentationPosition = entry.position
        let augmentation = try entry.cString()
        if version == 4 {
            let addressSize = try entry.u8()
            let segmentSize = try entry.u8()
            guard addressSize == 8, segmentSize == 0 else {
                throw entry.error(.unsupportedAddressSize(segmentSize != 0 ? segmentSize : addressSize), at: entry.position - 2)
            }
        }
        let codeAlignment = try entry.uleb128()
        let dataAlignment = try entry.sleb128()
        let returnAddressRegister = version == 1 ? UInt64(try entry.u8()) : try entry.uleb128()
        var pointerEncoding = PointerEncoding.absolutePointer
        var isSignalFrame = false
        let hasAugmentationData = augmentation.hasPrefix("z")
        if hasAugmentationData {
            let length = try entry.uleb128()
            guard length <= UInt64(entry.remaining) else { throw entry.error(.truncated) }
            let dataEnd = entry.position + Int(length)
            var data = entry.subrange(entry.position, dataEnd)
            letters: for letter in augmentation.utf8.dropFirst() {
                switch letter {
                case UInt8(ascii: "R"): pointerEncoding = try data.u8()
                case UInt8(ascii: "L"): _ = try data.u8()
                case UInt8(ascii: "P"):
                    let encoding = try data.u8()
                    try data.skipEncodedPointer(encoding)
                case UInt8(ascii: "S"): isSignalFrame = true
                case UInt8(ascii: "B"), UInt8(ascii: "G"): continue
                default:
                    // The data length lets an unknown letter be skipped safely: stop decoding here.
                    break letters
                }
            }
            entry.position = dataEnd
        } else if !augmentation.isEmpty {
            throw entry.error(.unsupportedAugmentation(augmentation), at: augmentationPosition)
        }
        if flavor == .ehFrame {
            // Validate the encoding once, here, rather than at every FDE.
            switch pointerEncoding & 0x0F {
            case 0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x0A, 0x0B, 0x0C: break
            default: throw entry.error(.unsupportedPointerEncoding(pointerEncoding), at: augmentationPosition)
            }
        }
        return CommonInformationEntry(offset: offset, version: version, codeAlignment: codeAlignment,
                                      dataAlignment: dataAlignment, returnAddressRegister: returnAddressRegister,
                                      pointerEncoding: pointerEncoding, hasAugmentationData: hasAugmentationData,
                                      isSignalFrame: isSignalFrame, instructions: entry.position..<entry.end)
    }

    private mutating func parseFDE(entry: ByteCursor, offset: Int, cie: CommonInformationEntry) throws(UnwindTableError) {
        var entry = entry
        let start: UInt64
        let length: UInt64
        switch flavor {
        case .ehFrame:
            start = try entry.encodedPointer(cie.pointerEncoding, bases: bases)
            length = try entry.encodedValue(cie.pointerEncoding)
        case .debugFrame:
            start = try entry.u64()
            length = try entry.u64()
        }
        if cie.hasAugmentationData {
            let augmentationLength = try entry.uleb128()
            guard augmentationLength <= UInt64(entry.remaining) else { throw entry.error(.truncated) }
            entry.position += Int(augmentationLength)
        }
        // Linkers leave FDEs of discarded functions at address 0 (or all ones) or empty.
        guard length != 0, start != 0, start != UInt64.max else {
            discardedFDEs += 1
            return
        }
        let (end, overflow) = start.addingReportingOverflow(length)
        guard !overflow else { throw cursor.error(.locationOutOfRange(start), at: cursor.sectionStart + offset) }
        fdes.append(FrameDescriptionEntry(offset: offset, cieOffset: cie.offset, start: start, end: end,
                                          instructions: entry.position..<entry.end))
    }
}
