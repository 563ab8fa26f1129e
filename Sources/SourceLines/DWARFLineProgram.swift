import UnwindTableFormat

/// The line number programs of a DWARF `.debug_line` section (versions 2 to 5), run
/// into a `LineTable`.
///
/// The section is untrusted: every length, offset, LEB128 and operand is checked
/// against its unit, an unknown form or a unit version outside 2...5 ends the parse
/// with an error, and the table refuses to grow past `maximumRows`. Addresses are the
/// link-time ones of the file. Inlined calls are not expanded (that needs
/// `.debug_info`): an address gets the innermost line the program gives it.
public enum DWARFLineProgram {
    /// The sections a program refers to (already decompressed); absent ones are empty.
    public struct Sections {
        public var debugLine: [UInt8]
        /// `.debug_line_str` (DWARF 5 `DW_FORM_line_strp`).
        public var debugLineStr: [UInt8]
        /// `.debug_str` (`DW_FORM_strp`).
        public var debugStr: [UInt8]

        public init(debugLine: [UInt8], debugLineStr: [UInt8] = [], debugStr: [UInt8] = []) {
            self.debugLine = debugLine
            self.debugLineStr = debugLineStr
            self.debugStr = debugStr
        }
    }

    /// Directories, and file names, one unit's header may list (real ones list hundreds):
    /// each costs far more memory than its few bytes of section, so a count is capped.
    public static let maximumEntriesPerUnit = 1 << 16
    /// Distinct file paths over all units (a large C++ binary has tens of thousands).
    public static let maximumFiles = 1 << 18

    /// Runs every unit's program. Throws on the first malformed unit or when the rows
    /// exceed `maximumRows`: a half-read table could give wrong lines for the rest.
    public static func table(of sections: Sections, maximumRows: Int) throws(SourceLinesError) -> LineTable {
        var builder = LineTableBuilder(maximumRows: maximumRows)
        let bytes = sections.debugLine
        var position = 0
        do throws(UnwindTableError) {
            while position < bytes.count, builder.rowsAccepted {
                var cursor = ByteCursor(bytes: bytes, start: 0, end: bytes.count, section: ".debug_line")
                cursor.position = position
                position = try unit(at: &cursor, sections: sections, into: &builder)
            }
        } catch {
            throw SourceLinesError(error)
        }
        guard builder.rowsAccepted else { throw SourceLinesError(.tooManyRows(limit: maximumRows)) }
        return builder.build() ?? LineTable(base: 0, rows: [], files: [])
    }

    // MARK: Unit header

    /// Reads the unit at the cursor and runs its program; returns where the next unit starts.
    private static func unit(at cursor: inout ByteCursor, sections: Sections,
                             into builder: inout LineTableBuilder) throws(UnwindTableError) -> Int {
        var length = UInt64(try cursor.u32())
        var offsetSize = 4
        if length == 0xffff_ffff {
            length = try cursor.u64()
            offsetSize = 8
        } else if length >= 0xffff_fff0 {
            throw cursor.error(.malformedHeader(field: "unit_length (reserved value)", value: length))
        }
        guard length <= UInt64(cursor.remaining) else { throw cursor.error(.truncated) }
        let unitEnd = cursor.position + Int(length)
        var unit = cursor.subrange(cursor.position, unitEnd)
        let version = try unit.u16()
        guard (2...5).contains(version) else {
            throw unit.error(.malformedHeader(field: "line table version (2 to 5 are read)", value: UInt64(version)))
        }
        var addressSize = 0
        if version >= 5 {
            addressSize = Int(try unit.u8())
            _ = try unit.u8()  // segment_selector_size
        }
        let headerLength = offsetSize == 8 ? try unit.u64() : UInt64(try unit.u32())
        guard headerLength <= UInt64(unit.remaining) else { throw unit.error(.truncated) }
        let programStart = unit.position + Int(headerLength)
        var header = Header(version: version, addressSize: addressSize, offsetSize: offsetSize)
        header.minimumInstructionLength = UInt64(try unit.u8())
        if version >= 4 { header.maximumOperations = UInt64(try unit.u8()) }
        guard header.maximumOperations > 0 else {
            throw unit.error(.malformedHeader(field: "maximum_operations_per_instruction", value: 0))
        }
        header.defaultIsStatement = try unit.u8() != 0
        header.lineBase = Int64(Int8(bitPattern: try unit.u8()))
        header.lineRange = UInt64(try unit.u8())
        guard header.lineRange > 0 else { throw unit.error(.malformedHeader(field: "line_range", value: 0)) }
        header.opcodeBase = try unit.u8()
        guard header.opcodeBase > 0 else { throw unit.error(.malformedHeader(field: "opcode_base", value: 0)) }
        header.standardOpcodeLengths = []
        for _ in 1..<Int(header.opcodeBase) { header.standardOpcodeLengths.append(try unit.u8()) }

        var tables = unit.subrange(unit.position, programStart)
        let fileNames: [String]
        if version >= 5 {
            fileNames = try fileNames5(&tables, header: header, sections: sections)
        } else {
            fileNames = try fileNames4(&tables)
        }
        var fileIndices = fileNames.map { builder.fileIndex($0) }
        guard builder.files.count <= maximumFiles else {
            throw unit.error(.malformedHeader(field: "distinct file names of the section (at most \(maximumFiles))",
                                              value: UInt64(builder.files.count)))
        }
        var program = unit.subrange(programStart, unitEnd)
        try run(&program, header: header, fileIndices: &fileIndices, builder: &builder)
        return unitEnd
    }

    /// What a unit's header says about its program.
    private struct Header {
        var version: UInt16
        var addressSize: Int
        var offsetSize: Int
        var minimumInstructionLength: UInt64 = 1
        var maximumOperations: UInt64 = 1
        var defaultIsStatement = true
        var lineBase: Int64 = 0
        var lineRange: UInt64 = 1
        var opcodeBase: UInt8 = 1
        var standardOpcodeLengths: [UInt8] = []
    }

    /// Paths of a DWARF 2-4 header (`include_directories`, `file_names`), by the file
    /// numbers the program uses (1-based: index 0 is a placeholder).
    private static func fileNames4(_ cursor: inout ByteCursor) throws(UnwindTableError) -> [String] {
        var directories: [String] = [""]  // 0: the compilation directory, which only .debug_info names
        while true {
            let directory = try cursor.cString()
            if directory.isEmpty { break }
            try checkCount(directories.count, cursor)
            directories.append(directory)
        }
        var files: [String] = [""]
        while true {
            let name = try cursor.cString()
            if name.isEmpty { break }
            try checkCount(files.count, cursor)
            let directory = try cursor.uleb128()
            _ = try cursor.uleb128()  // modification time
            _ = try cursor.uleb128()  // length
            files.append(try join(directory < UInt64(directories.count) ? directories[Int(directory)] : "", name, cursor))
        }
        return files
    }

    /// Paths of a DWARF 5 header (entry formats, then the entries), by the file numbers
    /// the program uses (0-based).
    private static func fileNames5(_ cursor: inout ByteCursor, header: Header,
                                   sections: Sections) throws(UnwindTableError) -> [String] {
        let directories = try entries5(&cursor, header: header, sections: sections).map { $0.path ?? "" }
        var files: [String] = []
        for entry in try entries5(&cursor, header: header, sections: sections) {
            let directory = entry.directory.flatMap { $0 < UInt64(directories.count) ? directories[Int($0)] : nil } ?? ""
            files.append(try join(directory, entry.path ?? "", cursor))
        }
        return files
    }

    /// `DW_LNCT_path`, `DW_LNCT_directory_index`.
    private static let contentPath: UInt64 = 1
    private static let contentDirectoryIndex: UInt64 = 2

    /// One DWARF 5 entry list: a format count and its (content type, form) pairs, an
    /// entry count, the entries.
    private static func entries5(_ cursor: inout ByteCursor, header: Header,
                                 sections: Sections) throws(UnwindTableError) -> [(path: String?, directory: UInt64?)] {
        let formatCount = Int(try cursor.u8())
        var formats: [(content: UInt64, form: UInt64)] = []
        for _ in 0..<formatCount { formats.append((try cursor.uleb128(), try cursor.uleb128())) }
        let count = try cursor.uleb128()
        // Each entry takes at least a byte per format: a count the header cannot hold is a lie.
        guard count <= UInt64(cursor.remaining), count <= UInt64(maximumEntriesPerUnit), formatCount > 0 || count == 0 else {
            throw cursor.error(.malformedHeader(field: "directory or file name count (at most \(maximumEntriesPerUnit))", value: count))
        }
        var entries: [(path: String?, directory: UInt64?)] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            var entry: (path: String?, directory: UInt64?) = (nil, nil)
            for format in formats {
                let value = try formValue(&cursor, form: format.form, header: header, sections: sections)
                switch format.content {
                case contentPath: entry.path = value.string
                case contentDirectoryIndex: entry.directory = value.number
                default: break
                }
            }
            entries.append(entry)
        }
        return entries
    }

    /// The forms a DWARF 5 line table header uses (strings, constants, blocks).
    private static func formValue(_ cursor: inout ByteCursor, form: UInt64, header: Header,
                                  sections: Sections) throws(UnwindTableError) -> (string: String?, number: UInt64?) {
        func offset() throws(UnwindTableError) -> UInt64 {
            header.offsetSize == 8 ? try cursor.u64() : UInt64(try cursor.u32())
        }
        switch form {
        case 0x08: return (try cursor.cString(), nil)  // DW_FORM_string
        case 0x1f: return (try string(in: sections.debugLineStr, at: offset(), section: ".debug_line_str", cursor), nil)
        case 0x0e: return (try string(in: sections.debugStr, at: offset(), section: ".debug_str", cursor), nil)
        case 0x0b: return (nil, UInt64(try cursor.u8()))  // DW_FORM_data1
        case 0x05: return (nil, UInt64(try cursor.u16()))  // DW_FORM_data2
        case 0x06: return (nil, UInt64(try cursor.u32()))  // DW_FORM_data4
        case 0x07: return (nil, try cursor.u64())  // DW_FORM_data8
        case 0x0f: return (nil, try cursor.uleb128())  // DW_FORM_udata
        case 0x1e: try cursor.skip(16); return (nil, nil)  // DW_FORM_data16 (MD5)
        case 0x09:  // DW_FORM_block
            let length = try cursor.uleb128()
            guard length <= UInt64(cursor.remaining) else { throw cursor.error(.truncated) }
            try cursor.skip(Int(length))
            return (nil, nil)
        // DW_FORM_strx, strx1-4: their strings need .debug_str_offsets and the unit's base; not read.
        case 0x1a: _ = try cursor.uleb128(); return (nil, nil)
        case 0x25: try cursor.skip(1); return (nil, nil)
        case 0x26: try cursor.skip(2); return (nil, nil)
        case 0x27: try cursor.skip(3); return (nil, nil)
        case 0x28: try cursor.skip(4); return (nil, nil)
        default:
            throw cursor.error(.malformedHeader(field: "form of a line table header entry", value: form))
        }
    }

    /// The NUL-terminated string at `offset` of a string section.
    private static func string(in section: [UInt8], at offset: UInt64, section name: String,
                               _ cursor: ByteCursor) throws(UnwindTableError) -> String {
        // A section not read (too large, or absent): the name is unknown, the rows still count.
        if section.isEmpty { return "" }
        guard offset < UInt64(section.count) else {
            throw cursor.error(.malformedHeader(field: "offset into \(name) (\(section.count) bytes)", value: offset))
        }
        // Many entries may point at one string: each is copied, so its length is capped.
        let start = Int(offset)
        let end = min(section.count, start + maximumPathLength)
        guard let terminator = section[start..<end].firstIndex(of: 0) else {
            throw cursor.error(.malformedHeader(field: "string in \(name) unterminated within \(maximumPathLength) bytes",
                                                value: offset))
        }
        return String(decoding: section[start..<terminator], as: UTF8.self)
    }

    /// Throws when a list already holds `maximumEntriesPerUnit` entries.
    private static func checkCount(_ count: Int, _ cursor: ByteCursor) throws(UnwindTableError) {
        guard count <= maximumEntriesPerUnit else {
            throw cursor.error(.malformedHeader(field: "directory or file name count (at most \(maximumEntriesPerUnit))",
                                                value: UInt64(count)))
        }
    }

    /// `directory/name`, or `name` alone when it is absolute or there is no directory.
    /// Longer paths are refused: entries may all name one long directory or string, and
    /// the joined copies would cost far more than the section's bytes.
    public static let maximumPathLength = 4096

    private static func join(_ directory: String, _ name: String, _ cursor: ByteCursor) throws(UnwindTableError) -> String {
        guard directory.utf8.count + name.utf8.count < maximumPathLength else {
            throw cursor.error(.malformedHeader(field: "path length (at most \(maximumPathLength) bytes)",
                                                value: UInt64(directory.utf8.count + name.utf8.count)))
        }
        if name.hasPrefix("/") || directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    // MARK: The program

    /// The state machine's registers that rows take.
    private struct Registers {
        var address: UInt64 = 0
        var operationIndex: UInt64 = 0
        var file: UInt64 = 1
        var line: Int64 = 1
    }

    private static func run(_ cursor: inout ByteCursor, header: Header, fileIndices: inout [UInt32],
                            builder: inout LineTableBuilder) throws(UnwindTableError) {
        var registers = Registers()
        // Lines are 32-bit in the table; a program that drives one outside is clamped, not trapped on.
        func emit() {
            let file = registers.file < UInt64(fileIndices.count) ? fileIndices[Int(registers.file)] : LineTable.gap - 1
            let line = UInt32(clamping: max(0, registers.line))
            if !builder.add(address: registers.address, file: file, line: line) { builder.rowsAccepted = false }
        }
        /// Advances by `operations` operations (VLIW bundles when `maximumOperations` > 1).
        func advance(_ operations: UInt64) {
            let length = header.minimumInstructionLength
            if header.maximumOperations == 1 {
                registers.address &+= length &* operations
            } else {
                let total = registers.operationIndex &+ operations
                registers.address &+= length &* (total / header.maximumOperations)
                registers.operationIndex = total % header.maximumOperations
            }
        }
        let specialRange = 255 - UInt64(header.opcodeBase)
        while !cursor.isAtEnd, builder.rowsAccepted {
            let opcode = try cursor.u8()
            if opcode >= header.opcodeBase {
                let adjusted = UInt64(opcode - header.opcodeBase)
                advance(adjusted / header.lineRange)
                registers.line &+= header.lineBase &+ Int64(adjusted % header.lineRange)
                emit()
                continue
            }
            switch opcode {
            case 0:
                let length = try cursor.uleb128()
                guard length > 0, length <= UInt64(cursor.remaining) else { throw cursor.error(.truncated) }
                var operands = cursor.subrange(cursor.position, cursor.position + Int(length))
                try cursor.skip(Int(length))
                switch try operands.u8() {
                case 1:  // DW_LNE_end_sequence
                    if !builder.endSequence(at: registers.address) { builder.rowsAccepted = false }
                    registers = Registers()
                case 2:  // DW_LNE_set_address
                    switch operands.remaining {
                    case 8: registers.address = try operands.u64()
                    case 4: registers.address = UInt64(try operands.u32())
                    default:
                        throw cursor.error(.malformedHeader(field: "DW_LNE_set_address operand size", value: UInt64(operands.remaining)))
                    }
                    registers.operationIndex = 0
                case 3 where header.version < 5:  // DW_LNE_define_file
                    let name = try operands.cString()
                    _ = try operands.uleb128()
                    try checkCount(fileIndices.count, cursor)
                    guard builder.files.count <= maximumFiles else {
                        throw cursor.error(.malformedHeader(field: "distinct file names of the section (at most \(maximumFiles))",
                                                            value: UInt64(builder.files.count)))
                    }
                    fileIndices.append(builder.fileIndex(name))
                default:
                    break  // DW_LNE_set_discriminator and vendor opcodes: nothing a row needs
                }
            case 1: emit()  // DW_LNS_copy
            case 2: advance(try cursor.uleb128())  // DW_LNS_advance_pc
            case 3: registers.line &+= try cursor.sleb128()  // DW_LNS_advance_line
            case 4: registers.file = try cursor.uleb128()  // DW_LNS_set_file
            case 8: advance(specialRange / header.lineRange)  // DW_LNS_const_add_pc
            case 9:  // DW_LNS_fixed_advance_pc
                registers.address &+= UInt64(try cursor.u16())
                registers.operationIndex = 0
            default:
                // set_column, negate_stmt, basic_block, prologue_end, epilogue_begin,
                // set_isa and opcodes this reader does not know: skip their ULEB128 operands.
                let count = Int(header.standardOpcodeLengths[Int(opcode) - 1])
                for _ in 0..<count { _ = try cursor.uleb128() }
            }
        }
    }
}
