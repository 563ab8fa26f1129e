import ELF

/// Source files and lines of a Go binary from its `.gopclntab`: each function's `pcfile`
/// and `pcln` pc-value tables, decoded for one address at a time (the table stays as the
/// file has it; nothing is expanded). Little-endian layouts of Go 1.2–1.15, 1.16–1.17
/// and 1.18 and later (1.20 keeps 1.18's offsets).
///
/// Every offset and varint is checked against the table: a malformed table gives no
/// line, never a trap.
struct GoLineTable {
    private enum Layout { case go12, go116, go118 }

    private let table: [UInt8]
    private let layout: Layout
    private let pointerSize: Int
    /// `pcQuantum`: the unit of pc deltas (1 on x86).
    private let quantum: UInt64
    private let functionCount: Int
    private let functionTable: Int
    private let textStart: UInt64
    private let pcTable: Int
    private let cuTable: Int
    private let fileTable: Int

    /// File names read so far, by offset: frames share one string per file (cached
    /// stacks hold them), as frames of a DWARF table share its `files`.
    private final class Names {
        var byOffset: [Int: String] = [:]
    }

    private let names = Names()

    /// Most steps of one pc-value table walked (a function's table has one per change of
    /// line or file; the largest real functions have a few thousand): bounds a lookup's CPU.
    static let maximumSteps = 1 << 16

    /// The table's memory: it is kept as read.
    var byteCount: Int { table.count }

    init?(_ table: [UInt8]) {
        guard table.count >= 16, table[4] == 0, table[5] == 0, let magic = Self.read32(table, 0) else { return nil }
        let pointerSize = Int(table[7])
        guard pointerSize == 4 || pointerSize == 8, table[6] > 0 else { return nil }
        self.table = table
        self.pointerSize = pointerSize
        self.quantum = UInt64(table[6])
        func word(_ index: Int) -> Int? {
            Self.readWord(table, 8 + index * pointerSize, pointerSize).flatMap { $0 < UInt64(table.count) ? Int($0) : nil }
        }
        guard let count = Self.readWord(table, 8, pointerSize), count < 10_000_000 else { return nil }
        functionCount = Int(count)
        switch magic {
        case 0xffff_fff0, 0xffff_fff1:
            // nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
            guard let cu = word(4), let files = word(5), let pc = word(6), let functions = word(7),
                  let start = Self.readWord(table, 8 + 2 * pointerSize, pointerSize) else { return nil }
            (layout, textStart, cuTable, fileTable, pcTable, functionTable) = (.go118, start, cu, files, pc, functions)
        case 0xffff_fffa:
            // nfunc, nfiles, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
            guard let cu = word(3), let files = word(4), let pc = word(5), let functions = word(6) else { return nil }
            (layout, textStart, cuTable, fileTable, pcTable, functionTable) = (.go116, 0, cu, files, pc, functions)
        case 0xffff_fffb:
            // The function table follows nfunc; then the end pc and the file table's offset.
            let functions = 8 + pointerSize
            let fileTableField = functions + functionCount * 2 * pointerSize + pointerSize
            guard let files = Self.read32(table, fileTableField), Int(files) < table.count else { return nil }
            (layout, textStart, cuTable, fileTable, pcTable, functionTable) = (.go12, 0, 0, Int(files), 0, functions)
        default:
            return nil
        }
    }

    /// The table of `file`'s `.gopclntab`; nil when it has none.
    /// The table is kept as read: one larger than `limit` bytes is refused (`.overLimit`).
    static func read(from file: any ELFByteSource, limit: Int) throws(SourceLineFailure) -> GoLineTable? {
        let elf: ELFFile
        do throws(ELFFileError) { elf = try ELFFile(source: file) } catch { throw .malformed(error.description) }
        guard let section = elf.section(named: ".gopclntab") else { return nil }
        let bytes = try SourceLineReader.contents(of: section, in: elf, limit: limit)
        guard let table = GoLineTable(bytes) else {
            throw .malformed("\(elf.name): .gopclntab: not a little-endian Go 1.2 to 1.2x table (magic, pointer size or offsets)")
        }
        return table
    }

    /// The source file and line of the code at `address` (a link-time virtual address).
    func location(of address: UInt64) -> (file: String, line: UInt32)? {
        guard let function = function(covering: address) else { return nil }
        let base = layout == .go12 ? 0 : pcTable
        // _func: (entry), nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata, cuOffset.
        let fields = function.offset + (layout == .go118 ? 4 : pointerSize)
        guard let fileTableOffset = Self.read32(table, fields + 16), let lineTableOffset = Self.read32(table, fields + 20),
              fileTableOffset != 0, lineTableOffset != 0,
              let line = value(at: base + Int(lineTableOffset), entry: function.entry, target: address), line > 0,
              let fileNumber = value(at: base + Int(fileTableOffset), entry: function.entry, target: address), fileNumber >= 0
        else { return nil }
        let nameOffset: Int
        switch layout {
        case .go12:
            guard let count = Self.read32(table, fileTable), UInt32(fileNumber) < count,
                  let offset = Self.read32(table, fileTable + 4 * Int(fileNumber)) else { return nil }
            nameOffset = Int(offset)
        case .go116, .go118:
            guard let unitOffset = Self.read32(table, fields + 28),
                  let offset = Self.read32(table, cuTable + 4 * (Int(unitOffset) + Int(fileNumber))),
                  offset != UInt32.max else { return nil }
            nameOffset = fileTable + Int(offset)
        }
        if let file = names.byOffset[nameOffset] { return (file, UInt32(line)) }
        guard let file = Self.name(table, nameOffset) else { return nil }
        names.byOffset[nameOffset] = file
        return (file, UInt32(line))
    }

    /// The function whose code holds `address`: its entry and where its `_func` is.
    private func function(covering address: UInt64) -> (entry: UInt64, offset: Int)? {
        func start(_ index: Int) -> UInt64? {
            switch layout {
            case .go118: Self.read32(table, functionTable + index * 8).map { textStart &+ UInt64($0) }
            case .go116, .go12: Self.readWord(table, functionTable + index * 2 * pointerSize, pointerSize)
            }
        }
        var low = 0
        var high = functionCount
        while low < high {
            let middle = (low + high) / 2
            guard let value = start(middle) else { return nil }
            if value <= address { low = middle + 1 } else { high = middle }
        }
        // The entry after the last function is the end of the text.
        guard low > 0, let entry = start(low - 1), let end = start(low), address < end else { return nil }
        let index = low - 1
        let functionOffset: Int
        switch layout {
        case .go118:
            guard let offset = Self.read32(table, functionTable + index * 8 + 4) else { return nil }
            functionOffset = functionTable + Int(offset)
        case .go116:
            guard let offset = Self.readWord(table, functionTable + index * 2 * pointerSize + pointerSize, pointerSize),
                  offset < UInt64(table.count) else { return nil }
            functionOffset = functionTable + Int(offset)
        case .go12:
            guard let offset = Self.readWord(table, functionTable + index * 2 * pointerSize + pointerSize, pointerSize),
                  offset < UInt64(table.count) else { return nil }
            functionOffset = Int(offset)
        }
        return (entry, functionOffset)
    }

    /// The value a pc-value table gives `target`: pairs of a zig-zag value delta and a pc
    /// delta (in quanta), from value -1 at `entry`; a zero value delta after the first ends it.
    private func value(at offset: Int, entry: UInt64, target: UInt64) -> Int32? {
        var position = offset
        var value: Int32 = -1
        var pc = entry
        for step in 0..<Self.maximumSteps {
            guard let valueDelta = uvarint(&position), valueDelta != 0 || step == 0,
                  let pcDelta = uvarint(&position) else { return nil }
            let delta = valueDelta & 1 != 0 ? ~(valueDelta >> 1) : valueDelta >> 1
            value &+= Int32(bitPattern: delta)
            pc &+= UInt64(pcDelta) &* quantum
            if target < pc { return value }
        }
        return nil
    }

    /// A little-endian base-128 varint of at most 32 bits.
    private func uvarint(_ position: inout Int) -> UInt32? {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while position >= 0, position < table.count, shift < 35 {
            let byte = table[position]
            position += 1
            result |= UInt32(truncatingIfNeeded: UInt64(byte & 0x7f) << shift)
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    private static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    private static func readWord(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: UInt64 = 0
        for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    /// The NUL-terminated name at `offset`.
    private static func name(_ bytes: [UInt8], _ offset: Int) -> String? {
        guard offset >= 0, offset < bytes.count, let end = bytes[offset...].firstIndex(of: 0), end > offset else { return nil }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }
}
