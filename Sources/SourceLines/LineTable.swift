/// A file's machine addresses mapped to source file and line: the compact form the
/// symbolizer keeps for each file it has read lines from.
///
/// One row costs 12 bytes (a 32-bit offset from the lowest address, a file index,
/// a line); rows are sorted by address, and a row whose `file` is `LineTable.gap`
/// ends the code before it (the end of a DWARF sequence). An address is covered by
/// the last row at or below it, unless that row is a gap or has line 0.
public struct LineTable: Sendable {
    /// One row: where code from `file`:`line` starts.
    struct Row {
        var offset: UInt32
        var file: UInt32
        var line: UInt32
    }

    /// The file index of a row that ends a sequence.
    static let gap = UInt32.max
    /// Bytes one row takes, for the size cap and the statistics.
    public static let bytesPerRow = MemoryLayout<Row>.stride

    private let base: UInt64
    private let rows: [Row]
    /// Source paths, by the rows' file indices.
    public let files: [String]

    /// The number of rows (gaps included).
    public var count: Int { rows.count }
    /// What the table holds in memory, roughly: rows and path bytes.
    public var byteCount: Int { rows.count * Self.bytesPerRow + files.reduce(0) { $0 + $1.utf8.count + 16 } }

    init(base: UInt64, rows: [Row], files: [String]) {
        self.base = base
        self.rows = rows
        self.files = files
    }

    /// The source file and line of the code at `address`, or nil when no row covers it.
    public func location(of address: UInt64) -> (file: String, line: UInt32)? {
        guard address >= base, address - base <= UInt64(UInt32.max) else { return nil }
        let offset = UInt32(address - base)
        // The first row above `offset`; the one before it covers `offset`.
        var low = 0
        var high = rows.count
        while low < high {
            let middle = (low + high) / 2
            if rows[middle].offset <= offset { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let row = rows[low - 1]
        guard row.file != Self.gap, row.line != 0, Int(row.file) < files.count else { return nil }
        return (files[Int(row.file)], row.line)
    }
}

/// Collects rows in program order and sorts them into a `LineTable`, refusing to grow
/// past `maximumRows`.
struct LineTableBuilder {
    /// An address-sorted row with its absolute address, before the table narrows it.
    private struct WideRow {
        var address: UInt64
        var file: UInt32
        var line: UInt32
    }

    let maximumRows: Int
    /// False once a row was refused for `maximumRows`: the program's table is incomplete.
    var rowsAccepted = true
    private var rows: [WideRow] = []
    private(set) var files: [String] = []
    private var fileIndices: [String: UInt32] = [:]
    /// The last row added in the current sequence, to drop repeats of its file and line.
    private var previous: (file: UInt32, line: UInt32)?

    init(maximumRows: Int) {
        self.maximumRows = maximumRows
    }

    /// The table-wide index of `path`.
    mutating func fileIndex(_ path: String) -> UInt32 {
        if let index = fileIndices[path] { return index }
        let index = UInt32(files.count)
        files.append(path)
        fileIndices[path] = index
        return index
    }

    /// Adds a row; false when the table is full.
    mutating func add(address: UInt64, file: UInt32, line: UInt32) -> Bool {
        // A row that repeats the previous one's file and line covers nothing new
        // (same-address rows still differ: the later one wins, so it is kept).
        if let previous, previous.file == file, previous.line == line { return true }
        guard rows.count < maximumRows else { return false }
        rows.append(WideRow(address: address, file: file, line: line))
        previous = (file, line)
        return true
    }

    /// Ends the current sequence at `address`; false when the table is full.
    mutating func endSequence(at address: UInt64) -> Bool {
        previous = nil
        guard rows.count < maximumRows else { return false }
        rows.append(WideRow(address: address, file: LineTable.gap, line: 0))
        return true
    }

    /// The sorted table, or nil when its addresses span more than 4 GiB (no real
    /// file's code does). At one address a gap sorts before a row, so that a sequence
    /// starting where another ends covers that address; rows otherwise keep their order.
    consuming func build() -> LineTable? {
        var rows = self.rows
        self.rows = []
        // Stable: by address, gaps first, then the order the programs gave.
        var order = Array(rows.indices)
        order.sort { left, right in
            let (a, b) = (rows[left], rows[right])
            if a.address != b.address { return a.address < b.address }
            let (aGap, bGap) = (a.file == LineTable.gap, b.file == LineTable.gap)
            if aGap != bGap { return aGap }
            return left < right
        }
        guard let first = order.first.map({ rows[$0].address }) else {
            return LineTable(base: 0, rows: [], files: files)
        }
        guard let last = order.last.map({ rows[$0].address }), last - first <= UInt64(UInt32.max) else {
            // Code 4 GiB apart: keep the part from the lowest address (addresses tombstoned
            // to 0 or ~0 by a linker's garbage collection are what does this).
            return narrowed(rows: &rows, order: order)
        }
        var table: [LineTable.Row] = []
        table.reserveCapacity(rows.count)
        for index in order {
            let row = rows[index]
            table.append(LineTable.Row(offset: UInt32(row.address - first), file: row.file, line: row.line))
        }
        rows = []
        return LineTable(base: first, rows: table, files: files)
    }

    /// The 4 GiB window of rows holding the most rows.
    private func narrowed(rows: inout [WideRow], order: [Int]) -> LineTable? {
        var bestStart = 0
        var bestCount = 0
        var end = 0
        for start in order.indices {
            if end < start { end = start }
            while end < order.count, rows[order[end]].address - rows[order[start]].address <= UInt64(UInt32.max) { end += 1 }
            if end - start > bestCount {
                bestCount = end - start
                bestStart = start
            }
        }
        let first = rows[order[bestStart]].address
        var table: [LineTable.Row] = []
        table.reserveCapacity(bestCount)
        for index in order[bestStart..<bestStart + bestCount] {
            let row = rows[index]
            table.append(LineTable.Row(offset: UInt32(row.address - first), file: row.file, line: row.line))
        }
        return LineTable(base: first, rows: table, files: files)
    }
}
