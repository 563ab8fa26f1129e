import ELF
import UnwindTableFormat

/// Compiling an `UnwindTable` from an ELF file: the aggregator's side of the unwind tables.
extension UnwindTable {
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
        try compile(source: ELFImage(bytes: elfBytes), separateDebugFrame: separateDebugFrame, decompressor: decompressor,
                    maximumDecompressedSize: maximumDecompressedSize)
    }

    /// The table of the ELF file `source` (an open file, read with `pread`: only its headers
    /// and the sections compiled), as `compile(elfBytes:)`.
    public static func compile(source: any ELFByteSource, separateDebugFrame: SeparateDebugFrame? = nil,
                               decompressor: (any SectionDecompressor)? = nil,
                               maximumDecompressedSize: Int = defaultMaximumDecompressedSectionSize) throws(UnwindTableError) -> UnwindTable {
        try compile(elf: ELFFile.unwindable(source), separateDebugFrame: separateDebugFrame, decompressor: decompressor,
                    maximumDecompressedSize: maximumDecompressedSize)
    }

    /// The table of `elf`, a file whose headers were already read (e.g. while its debug
    /// file was looked for): they are not parsed again. Only the sections the table is
    /// compiled from are read from its source (`.eh_frame_hdr`, `.eh_frame`, `.debug_frame`),
    /// each bounded by the file's size: a 100 MB executable costs its few MB of call frame
    /// information, not its size, in memory.
    public static func compile(elf: ELFFile, separateDebugFrame: SeparateDebugFrame? = nil,
                               decompressor: (any SectionDecompressor)? = nil,
                               maximumDecompressedSize: Int = defaultMaximumDecompressedSectionSize) throws(UnwindTableError) -> UnwindTable {
        try ELFFile.checkUnwindable(elf)
        let reading = SectionReading(decompressor: decompressor, limit: maximumDecompressedSize)
        guard let separateDebugFrame else { return try compile(elf: elf, debugFrame: nil, reading: reading) }
        do throws(UnwindTableError) {
            return try compile(elf: elf, debugFrame: separateDebugFrame, reading: reading)
        } catch where error.file == .separateDebugFile {
            let debugError = error
            var table: UnwindTable
            do throws(UnwindTableError) {
                table = try compile(elf: elf, debugFrame: nil, reading: reading)
            } catch where error.kind == .noUnwindInformation || error.kind == .compressedSection {
                // The file alone has nothing: the debug file's problem is the reason.
                throw debugError
            }
            table.statistics.separateDebugFileError = debugError
            return table
        }
    }

    /// How compressed sections are read.
    private struct SectionReading {
        var decompressor: (any SectionDecompressor)?
        var limit: Int
    }

    private static func compile(elf: ELFFile, debugFrame: SeparateDebugFrame?,
                                reading: SectionReading) throws(UnwindTableError) -> UnwindTable {
        var statistics = Statistics()
        let text = elf.sections.first { $0.name == ".text" }?.address
        var sources: [CallFrameSection] = []
        var sourceFiles: [UnwindTableError.File] = []
        func add(_ source: CallFrameSection, from file: UnwindTableError.File) {
            sources.append(source)
            sourceFiles.append(file)
        }

        if let header = elf.section(named: ".eh_frame_hdr") {
            let hdr = try EHFrameHeader(cursor: ByteCursor(over: header, of: elf), address: header.address)
            statistics.searchTableEntries = hdr.searchTable.count
        }
        if let ehFrame = elf.section(named: ".eh_frame") {
            let bases = PointerEncoding.Bases(sectionAddress: ehFrame.address, text: text, data: nil)
            add(try CallFrameSection(flavor: .ehFrame, cursor: ByteCursor(over: ehFrame, of: elf), bases: bases), from: .main)
        } else if !elf.sections.contains(where: { $0.name == ".eh_frame" }),
                  let segment = elf.programHeaders.first(where: { $0.type == ELFFile.segmentGNUEHFrame }) {
            // Stripped section headers: .eh_frame_hdr tells where .eh_frame starts; it runs
            // to its zero terminator, within its loadable segment. (A separate debug file
            // lists .eh_frame as SHT_NOBITS and keeps program headers whose bytes are gone.)
            let headerCursor = try ByteCursor(at: segment.offset, count: segment.fileSize, of: elf, section: ".eh_frame_hdr",
                                              place: "PT_GNU_EH_FRAME")
            let hdr = try EHFrameHeader(cursor: headerCursor, address: segment.virtualAddress)
            statistics.searchTableEntries = hdr.searchTable.count
            guard let range = elf.fileRange(ofVirtualAddress: hdr.ehFrameAddress) else {
                throw UnwindTableError(.outOfFileBounds(offset: hdr.ehFrameAddress, size: 0, fileSize: Int(clamping: elf.fileSize)),
                                       section: ".eh_frame_hdr", offset: 4)
            }
            let cursor = try ByteCursor(at: range.offset, count: range.available, of: elf, section: ".eh_frame", place: ".eh_frame")
            let bases = PointerEncoding.Bases(sectionAddress: hdr.ehFrameAddress, text: text, data: nil)
            add(try CallFrameSection(flavor: .ehFrame, cursor: cursor, bases: bases), from: .main)
        }
        if let debugFrame = elf.section(named: ".debug_frame") {
            if debugFrame.isCompressed && reading.decompressor == nil {
                statistics.skippedSections.append(".debug_frame (compressed, and no decompressor was given)")
            } else {
                if debugFrame.isCompressed { statistics.decompressedSections.append(".debug_frame") }
                let bases = PointerEncoding.Bases(sectionAddress: debugFrame.address, text: text, data: nil)
                let cursor = try ELFFile.contents(of: ByteCursor(over: debugFrame, of: elf), isCompressed: debugFrame.isCompressed,
                                                  decompressor: reading.decompressor, limit: reading.limit)
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
        var rows = UnwindTable.Builder()
        var coveredEnd: UInt64?
        for (_, sourceIndex, index) in order {
            let source = sources[sourceIndex]
            let fde = source.fdes[index]
            if let end = coveredEnd {
                if fde.start < end {
                    statistics.overlappingFDEs += 1
                    continue
                }
                if fde.start > end { try rows.append(UnwindRow(startAddress: end, cfa: .noInfo, rbp: .unchanged)) }
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
                    try rows.append(interpreter.row(at: location, state: state, cie: cie))
                }
            } catch {
                throw error.in(sourceFiles[sourceIndex])
            }
            coveredEnd = fde.end
        }
        if let end = coveredEnd { try rows.append(UnwindRow(startAddress: end, cfa: .noInfo, rbp: .unchanged)) }

        let counts = interpreter.counts
        statistics.rowsBeforeMerging = counts.rowsBeforeMerging
        statistics.endOfStackRows = counts.endOfStackRows
        statistics.unsupportedRows = counts.unsupportedRows
        statistics.framePointerNotRecoverableRows = counts.framePointerNotRecoverableRows

        return rows.table(statistics: statistics, loadSegments: LoadSegment.segments(of: elf))
    }
}

extension UnwindTable.LoadSegment {
    /// The `PT_LOAD` segments of `elf`.
    public static func segments(of elf: ELFFile) -> [UnwindTable.LoadSegment] {
        elf.programHeaders.filter { $0.type == ELFFile.segmentLoad }.map {
            UnwindTable.LoadSegment(fileOffset: $0.offset, virtualAddress: $0.virtualAddress, fileSize: $0.fileSize,
                                    isExecutable: $0.isExecutable)
        }
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
