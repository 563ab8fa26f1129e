/// A compiled unwind table of one ELF file: sorted rows that say, for every covered
/// address, how to find the CFA, the return address and the caller's rbp on x86-64.
///
/// Built by the unprivileged aggregator from `.eh_frame` and `.debug_frame`
/// (UnwindTableCompiler); its `serialized()` form is what the sampler validates
/// (`init(serialized:)`) and loads into a BPF map. This target holds the table and its
/// format only, so that the sampler links no ELF or DWARF parser.
public struct UnwindTable: Hashable, Sendable {
    /// The rows as they are serialized, 8 bytes each: the start's offset from `baseAddress`
    /// in the low 32 bits, the packed rules (`pack`) in the high 32. A table of a large
    /// binary has millions of rows: unpacked (`UnwindRow`, 40 bytes) they were most of the
    /// aggregator's peak memory while it compiled, and of the sampler's while it validated.
    private(set) var entries: [UInt64]
    /// The address entry offsets count from: the first row's start (0 for an empty table).
    public private(set) var baseAddress: UInt64

    /// How many rows the table has.
    public var rowCount: Int { entries.count }

    /// Rows sorted by strictly increasing `startAddress`; consecutive rows differ in their
    /// rules; the last row (if any) is `noInfo`, ending the covered range. Unpacks every
    /// entry into a new array: for tests and tools, not for a path that runs per table.
    public var rows: [UnwindRow] { entries.indices.map(row(at:)) }

    /// The row at `index` (`0..<rowCount`).
    public func row(at index: Int) -> UnwindRow {
        let entry = entries[index]
        // Every entry was packed from a row or validated when read: it unpacks.
        return Self.unpack(UInt32(truncatingIfNeeded: entry >> 32),
                           startAddress: baseAddress &+ (entry & 0xFFFF_FFFF))!
    }
    /// What compilation counted: entries read and discarded, rows that lost rules.
    public package(set) var statistics: Statistics

    /// Why a row was compiled as `unsupported`.
    public enum UnsupportedReason: String, Hashable, Sendable, CaseIterable {
        /// The CFA is based on a register other than rsp and rbp (e.g. r10 in stack-realigning prologues).
        case cfaRegister
        /// The CFA is a DWARF expression other than the PLT one.
        case cfaExpression
        /// The return address is not saved at CFA-8 (or the CIE's return address column is not rip).
        case returnAddressRule
        /// A CFA offset above 2^19-1 or negative, or an rbp offset that is not a multiple of 8 in -1024...1016.
        case offsetOutOfRange
        /// A PLT expression row that also saves rbp (the packed entry cannot hold both).
        case framePointerInPLT
    }

    /// Counts kept while compiling, so that nothing is dropped silently.
    public struct Statistics: Hashable, Sendable {
        /// FDEs read from `.eh_frame` (whether found by section header or through `PT_GNU_EH_FRAME`).
        public var ehFrameFDEs = 0
        /// FDEs read from `.debug_frame`.
        public var debugFrameFDEs = 0
        /// FDEs of zero length or at address 0 or all ones: functions the linker discarded.
        public var discardedFDEs = 0
        /// FDEs skipped because they start inside the range of an earlier one (`.eh_frame`
        /// wins over `.debug_frame` at the same address).
        public var overlappingFDEs = 0
        /// Entries of `.eh_frame_hdr`'s search table, when there is one.
        public var searchTableEntries: Int?
        /// Rows produced by the CFA programs before identical neighbours were merged.
        public var rowsBeforeMerging = 0
        /// Rows with an undefined return address (outermost frames).
        public var endOfStackRows = 0
        /// Rows compiled as `unsupported`, by reason.
        public var unsupportedRows: [UnsupportedReason: Int] = [:]
        /// Rows whose rbp rule could not be kept (rbp saved in another register or by expression).
        public var framePointerNotRecoverableRows = 0
        /// Sections that exist but were not read, with the reason (e.g. a compressed `.debug_frame`
        /// when no decompressor was given).
        public var skippedSections: [String] = []
        /// Compressed (`SHF_COMPRESSED`) sections that were decompressed and read.
        public var decompressedSections: [String] = []
        /// FDEs read from the separate debug file's `.debug_frame` (part of `debugFrameFDEs`).
        public var separateDebugFrameFDEs = 0
        /// Why the separate debug file given was not used (the table then comes from the file alone).
        public var separateDebugFileError: UnwindTableError?

        public init() {}
    }

    /// The file's `PT_LOAD` segments, to turn a runtime address into the ELF virtual
    /// address rows use (empty for a table read from its serialized form).
    public private(set) var loadSegments: [LoadSegment]

    /// A `PT_LOAD` program header: file bytes `fileOffset..<fileOffset+fileSize` are mapped
    /// at ELF virtual address `virtualAddress`.
    public struct LoadSegment: Hashable, Sendable {
        public var fileOffset: UInt64
        public var virtualAddress: UInt64
        public var fileSize: UInt64
        /// `PF_X`: the segment holds code.
        public var isExecutable: Bool

        package init(fileOffset: UInt64, virtualAddress: UInt64, fileSize: UInt64, isExecutable: Bool) {
            self.fileOffset = fileOffset
            self.virtualAddress = virtualAddress
            self.fileSize = fileSize
            self.isExecutable = isExecutable
        }
    }

    /// A table of `rows`, which must be sorted, span less than 4 GiB and pack (compiled rows do).
    package init(rows: [UnwindRow], statistics: Statistics, loadSegments: [LoadSegment] = []) {
        let base = rows.first?.startAddress ?? 0
        self.init(entries: rows.map { Self.entry(offset: UInt32(truncatingIfNeeded: $0.startAddress - base), rules: Self.pack($0)) },
                  baseAddress: base, statistics: statistics, loadSegments: loadSegments)
    }

    package init(entries: [UInt64], baseAddress: UInt64, statistics: Statistics, loadSegments: [LoadSegment] = []) {
        self.entries = entries
        self.baseAddress = baseAddress
        self.statistics = statistics
        self.loadSegments = loadSegments
    }

    /// Rows appended in address order and packed as they come, so that a compile never holds
    /// them unpacked (UnwindTableCompiler).
    package struct Builder {
        private var entries: [UInt64] = []
        private var base: UInt64 = 0

        package init() {}

        /// Appends `row`, which starts at or after the last row: a row at the last row's
        /// address replaces it, and a row with the rules in force already is left out.
        /// Throws `addressSpanTooLarge` for a row 4 GiB or more past the first.
        package mutating func append(_ row: UnwindRow) throws(UnwindTableError) {
            let rules = UnwindTable.pack(row)
            if entries.isEmpty { base = row.startAddress }
            let span = row.startAddress &- base
            guard span <= UInt64(UInt32.max) else {
                throw UnwindTableError(.addressSpanTooLarge(span), section: "section headers", offset: 0)
            }
            if let last = entries.last, last & 0xFFFF_FFFF == span { entries.removeLast() }
            if let last = entries.last, UInt32(truncatingIfNeeded: last >> 32) == rules { return }
            entries.append(UnwindTable.entry(offset: UInt32(truncatingIfNeeded: row.startAddress &- base), rules: rules))
        }

        /// The table of the rows appended.
        package func table(statistics: Statistics, loadSegments: [LoadSegment]) -> UnwindTable {
            UnwindTable(entries: entries, baseAddress: base, statistics: statistics, loadSegments: loadSegments)
        }
    }

    /// An entry of `entries`.
    package static func entry(offset: UInt32, rules: UInt32) -> UInt64 {
        UInt64(offset) | UInt64(rules) << 32
    }

    /// The ELF virtual address of the byte at `fileOffset` of the file, or `nil` when no
    /// `PT_LOAD` segment maps it. For a sampled address `pc` in a mapping that starts at
    /// `start` with file offset `offset` (from /proc/PID/maps), pass `pc - start + offset`.
    public func elfAddress(fileOffset: UInt64) -> UInt64? {
        for segment in loadSegments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.fileSize {
            return segment.virtualAddress &+ (fileOffset - segment.fileOffset)
        }
        return nil
    }

    /// The ELF virtual address of the first byte of an executable mapping of this file whose
    /// file offset (`pgoff` in /proc/PID/maps) is `mappingFileOffset`, or `nil` when no
    /// `PT_LOAD` segment is mapped from there.
    ///
    /// Not `elfAddress(fileOffset:)`: the loader maps a segment from its page-aligned file
    /// offset, `p_offset − (p_vaddr mod page)`, so when the segments are packed in the file
    /// (LLD: p_vaddr − p_offset is 0x1000 for the code segment) the mapping's first bytes
    /// are the end of the previous, read-only segment, and the byte at `pgoff` names the
    /// wrong segment. The mapping belongs to the executable segment whose page-aligned
    /// range holds `pgoff`.
    public func elfAddress(ofMappingAt mappingFileOffset: UInt64, pageSize: UInt64 = 4096) -> UInt64? {
        loadSegments.elfAddress(ofMappingAt: mappingFileOffset, pageSize: pageSize)
    }

    /// The rules in force at `address` (an ELF virtual address), or `nil` where no FDE covers it.
    public func lookup(address: UInt64) -> UnwindRow? {
        // The last row starting at or before `address`.
        guard address >= baseAddress else { return nil }
        let offset = address - baseAddress
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle] & 0xFFFF_FFFF <= offset { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let row = row(at: low - 1)
        return row.cfa == .noInfo ? nil : row
    }
}

extension Array where Element == UnwindTable.LoadSegment {
    /// `UnwindTable.elfAddress(ofMappingAt:pageSize:)` over these segments.
    public func elfAddress(ofMappingAt mappingFileOffset: UInt64, pageSize: UInt64 = 4096) -> UInt64? {
        func holds(_ segment: UnwindTable.LoadSegment) -> Bool {
            let misalignment = segment.virtualAddress % pageSize
            let (mappedSize, overflow) = segment.fileSize.addingReportingOverflow(misalignment)
            guard misalignment <= segment.fileOffset, !overflow else { return false }
            let pageStart = segment.fileOffset - misalignment
            return mappingFileOffset >= pageStart && mappingFileOffset - pageStart < mappedSize
        }
        let segment = last { $0.isExecutable && holds($0) } ?? last(where: holds)
        return segment.map { $0.virtualAddress &- $0.fileOffset &+ mappingFileOffset }
    }
}
