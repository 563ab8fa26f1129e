/// A compiled unwind table of one ELF file: sorted rows that say, for every covered
/// address, how to find the CFA, the return address and the caller's rbp on x86-64.
///
/// Built by the unprivileged aggregator from `.eh_frame` and `.debug_frame`; its
/// `serialized()` form is what the sampler validates and loads into a BPF map.
public struct UnwindTable: Hashable, Sendable {
    /// Rows sorted by strictly increasing `startAddress`; consecutive rows differ in their
    /// rules; the last row (if any) is `noInfo`, ending the covered range.
    public private(set) var rows: [UnwindRow]
    /// What compilation counted: entries read and discarded, rows that lost rules.
    public private(set) var statistics: Statistics

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
    }

    init(rows: [UnwindRow], statistics: Statistics, loadSegments: [LoadSegment] = []) {
        self.rows = rows
        self.statistics = statistics
        self.loadSegments = loadSegments
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
        func holds(_ segment: LoadSegment) -> Bool {
            let misalignment = segment.virtualAddress % pageSize
            let (mappedSize, overflow) = segment.fileSize.addingReportingOverflow(misalignment)
            guard misalignment <= segment.fileOffset, !overflow else { return false }
            let pageStart = segment.fileOffset - misalignment
            return mappingFileOffset >= pageStart && mappingFileOffset - pageStart < mappedSize
        }
        let segment = loadSegments.last { $0.isExecutable && holds($0) } ?? loadSegments.last(where: holds)
        return segment.map { $0.virtualAddress &- $0.fileOffset &+ mappingFileOffset }
    }

    /// The rules in force at `address` (an ELF virtual address), or `nil` where no FDE covers it.
    public func lookup(address: UInt64) -> UnwindRow? {
        // The last row starting at or before `address`.
        var low = 0
        var high = rows.count
        while low < high {
            let middle = (low + high) / 2
            if rows[middle].startAddress <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let row = rows[low - 1]
        return row.cfa == .noInfo ? nil : row
    }

    // MARK: Compiling

    /// Largest decompressed size accepted for a compressed (`SHF_COMPRESSED`) section,
    /// whatever its `ch_size` claims.
    public static let defaultMaximumDecompressedSectionSize = 128 << 20

    /// Compiles the unwind table of an ELF64 x86-64 executable, shared object or separate
    /// debug file from its `.eh_frame` (found by section header, or through the
    /// `PT_GNU_EH_FRAME` segment when section headers are stripped) and `.debug_frame`,
    /// plus the `.debug_frame` of its separate debug file when one is given.
    ///
    /// FDEs are taken in address order; at equal addresses the first of `.eh_frame`, then
    /// `.debug_frame`, then the debug file's `.debug_frame` wins, and an FDE that starts
    /// inside an earlier one is skipped (`overlappingFDEs`). A problem in the debug
    /// file is never fatal: the table is compiled from the file alone and the error is
    /// kept in `statistics.separateDebugFileError` (it is thrown only when the file alone
    /// has no unwind information).
    ///
    /// - Parameters:
    ///   - separateDebugFrame: the `.debug_frame` of the file's debug file; the caller checked
    ///     that the debug file belongs to this file (build id or `.gnu_debuglink` CRC).
    ///   - decompressor: reads `SHF_COMPRESSED` sections; without one they are skipped (or,
    ///     when nothing else holds unwind information, `compressedSection` is thrown).
    ///   - maximumDecompressedSize: bound on one decompressed section.
    ///
    /// Throws an `UnwindTableError` naming the file, section and offset of the first
    /// malformed structure; never traps on corrupt input.
    public static func compile(elfBytes: [UInt8], separateDebugFrame: SeparateDebugFrame? = nil,
                               decompressor: (any SectionDecompressor)? = nil,
                               maximumDecompressedSize: Int = defaultMaximumDecompressedSectionSize) throws(UnwindTableError) -> UnwindTable {
        let reading = SectionReading(decompressor: decompressor, limit: maximumDecompressedSize)
        guard let separateDebugFrame else { return try compile(elfBytes: elfBytes, debugFrame: nil, reading: reading) }
        do throws(UnwindTableError) {
            return try compile(elfBytes: elfBytes, debugFrame: separateDebugFrame, reading: reading)
        } catch where error.file == .separateDebugFile {
            let debugError = error
            var table: UnwindTable
            do throws(UnwindTableError) {
                table = try compile(elfBytes: elfBytes, debugFrame: nil, reading: reading)
            } catch where error.kind == .noUnwindInformation || error.kind == .compressedSection {
                // The file alone has nothing: the debug file's problem is the reason.
                throw debugError
            }
            table.statistics.separateDebugFileError = debugError
            return table
        }
    }

    /// The names of the sections of an ELF file that have bytes in it (not `SHT_NOBITS`):
    /// e.g. whether it has a `.debug_frame` of its own before a debug file is looked for.
    public static func sectionNames(elfBytes: [UInt8]) throws(UnwindTableError) -> [String] {
        try ELFFile(bytes: elfBytes).sections.filter { $0.hasFileBytes && $0.size > 0 }.map(\.name)
    }

    /// How compressed sections are read.
    private struct SectionReading {
        var decompressor: (any SectionDecompressor)?
        var limit: Int
    }

    private static func compile(elfBytes: [UInt8], debugFrame: SeparateDebugFrame?, reading: SectionReading) throws(UnwindTableError) -> UnwindTable {
        let elf = try ELFFile(bytes: elfBytes)
        var statistics = Statistics()
        let text = elf.sections.first { $0.name == ".text" }?.address
        var sources: [CallFrameSection] = []
        var sourceFiles: [UnwindTableError.File] = []
        func add(_ source: CallFrameSection, from file: UnwindTableError.File) {
            sources.append(source)
            sourceFiles.append(file)
        }

        if let header = elf.section(named: ".eh_frame_hdr") {
            let hdr = try EHFrameHeader(cursor: elf.cursor(over: header), address: header.address)
            statistics.searchTableEntries = hdr.searchTable.count
        }
        if let ehFrame = elf.section(named: ".eh_frame") {
            let bases = PointerEncoding.Bases(sectionAddress: ehFrame.address, text: text, data: nil)
            add(try CallFrameSection(flavor: .ehFrame, cursor: elf.cursor(over: ehFrame), bases: bases), from: .main)
        } else if !elf.sections.contains(where: { $0.name == ".eh_frame" }),
                  let segment = elf.programHeaders.first(where: { $0.type == ELFFile.segmentGNUEHFrame }) {
            // Stripped section headers: .eh_frame_hdr tells where .eh_frame starts; it runs
            // to its zero terminator, within its loadable segment. (A separate debug file
            // lists .eh_frame as SHT_NOBITS and keeps program headers whose bytes are gone.)
            try ELFFile.checkBounds(offset: segment.offset, size: segment.fileSize, fileSize: elfBytes.count, section: "PT_GNU_EH_FRAME")
            let headerCursor = ByteCursor(bytes: elfBytes, start: Int(segment.offset), end: Int(segment.offset + segment.fileSize),
                                          section: ".eh_frame_hdr")
            let hdr = try EHFrameHeader(cursor: headerCursor, address: segment.virtualAddress)
            statistics.searchTableEntries = hdr.searchTable.count
            guard let range = elf.fileRange(ofVirtualAddress: hdr.ehFrameAddress) else {
                throw UnwindTableError(.outOfFileBounds(offset: hdr.ehFrameAddress, size: 0, fileSize: elfBytes.count),
                                       section: ".eh_frame_hdr", offset: 4)
            }
            let cursor = ByteCursor(bytes: elfBytes, start: range.offset, end: range.offset + range.available, section: ".eh_frame")
            let bases = PointerEncoding.Bases(sectionAddress: hdr.ehFrameAddress, text: text, data: nil)
            add(try CallFrameSection(flavor: .ehFrame, cursor: cursor, bases: bases), from: .main)
        }
        if let debugFrame = elf.section(named: ".debug_frame") {
            if debugFrame.isCompressed && reading.decompressor == nil {
                statistics.skippedSections.append(".debug_frame (compressed, and no decompressor was given)")
            } else {
                if debugFrame.isCompressed { statistics.decompressedSections.append(".debug_frame") }
                let bases = PointerEncoding.Bases(sectionAddress: debugFrame.address, text: text, data: nil)
                let cursor = try elf.contents(of: debugFrame, decompressor: reading.decompressor, limit: reading.limit)
                add(try CallFrameSection(flavor: .debugFrame, cursor: cursor, bases: bases), from: .main)
            }
        }
        if let debugFrame {
            do throws(UnwindTableError) {
                if debugFrame.isCompressed { statistics.decompressedSections.append("separate debug file's .debug_frame") }
                let bases = PointerEncoding.Bases(sectionAddress: debugFrame.address, text: text, data: nil)
                let stored = ByteCursor(bytes: debugFrame.contents, start: 0, end: debugFrame.contents.count, section: ".debug_frame")
                let cursor = try ELFFile.contents(of: stored, isCompressed: debugFrame.isCompressed,
                                                  decompressor: reading.decompressor, limit: reading.limit)
                let source = try CallFrameSection(flavor: .debugFrame, cursor: cursor, bases: bases)
                statistics.separateDebugFrameFDEs = source.fdes.count
                add(source, from: .separateDebugFile)
            } catch {
                throw error.in(.separateDebugFile)
            }
        }
        guard !sources.isEmpty else {
            if elf.sections.contains(where: { $0.name == ".debug_frame" && $0.isCompressed }) {
                throw UnwindTableError(.compressedSection, section: ".debug_frame", offset: 0)
            }
            throw UnwindTableError(.noUnwindInformation, section: "section headers", offset: 0)
        }

        // Order every FDE by address; at equal addresses .eh_frame (read first) wins.
        var order: [(start: UInt64, source: Int, index: Int)] = []
        for (sourceIndex, source) in sources.enumerated() {
            switch source.flavor {
            case .ehFrame: statistics.ehFrameFDEs += source.fdes.count
            case .debugFrame: statistics.debugFrameFDEs += source.fdes.count
            }
            statistics.discardedFDEs += source.discardedFDEs
            for (index, fde) in source.fdes.enumerated() { order.append((fde.start, sourceIndex, index)) }
        }
        order.sort { ($0.start, $0.source, $0.index) < ($1.start, $1.source, $1.index) }

        var interpreter = CFAInterpreter()
        var initialStates: [[Int: CFAInterpreter.State]] = Array(repeating: [:], count: sources.count)
        var rows: [UnwindRow] = []
        func append(_ row: UnwindRow) {
            if let last = rows.last {
                if last.startAddress == row.startAddress { rows.removeLast() }
                else if last.hasSameRules(as: row) { return }
            }
            if let last = rows.last, last.hasSameRules(as: row) { return }
            rows.append(row)
        }
        var coveredEnd: UInt64?
        for (_, sourceIndex, index) in order {
            let source = sources[sourceIndex]
            let fde = source.fdes[index]
            if let end = coveredEnd {
                if fde.start < end {
                    statistics.overlappingFDEs += 1
                    continue
                }
                if fde.start > end { append(UnwindRow(startAddress: end, cfa: .noInfo, rbp: .unchanged)) }
            }
            guard let cie = source.cies[fde.cieOffset] else { continue } // parsing stored every referenced CIE
            do throws(UnwindTableError) {
                let initial: CFAInterpreter.State
                if let known = initialStates[sourceIndex][fde.cieOffset] {
                    initial = known
                } else {
                    initial = try interpreter.initialState(of: cie, in: source)
                    initialStates[sourceIndex][fde.cieOffset] = initial
                }
                try interpreter.rows(of: fde, cie: cie, initial: initial, in: source) { location, state throws(UnwindTableError) in
                    append(interpreter.row(at: location, state: state, cie: cie))
                }
            } catch {
                throw error.in(sourceFiles[sourceIndex])
            }
            coveredEnd = fde.end
        }
        if let end = coveredEnd { append(UnwindRow(startAddress: end, cfa: .noInfo, rbp: .unchanged)) }

        let counts = interpreter.counts
        statistics.rowsBeforeMerging = counts.rowsBeforeMerging
        statistics.endOfStackRows = counts.endOfStackRows
        statistics.unsupportedRows = counts.unsupportedRows
        statistics.framePointerNotRecoverableRows = counts.framePointerNotRecoverableRows

        if let first = rows.first, let last = rows.last, last.startAddress - first.startAddress > UInt64(UInt32.max) {
            throw UnwindTableError(.addressSpanTooLarge(last.startAddress - first.startAddress), section: "section headers", offset: 0)
        }
        let loadSegments = elf.programHeaders.filter { $0.type == ELFFile.segmentLoad }.map {
            LoadSegment(fileOffset: $0.offset, virtualAddress: $0.virtualAddress, fileSize: $0.fileSize, isExecutable: $0.flags & 1 != 0)
        }
        return UnwindTable(rows: rows, statistics: statistics, loadSegments: loadSegments)
    }
}

extension UnwindTableError {
    /// The same error, attributed to `file`.
    func `in`(_ file: File) -> UnwindTableError {
        var error = self
        error.file = file
        return error
    }
}
