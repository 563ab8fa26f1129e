/// CPython 3.8/3.9 `co_lnotab`: pairs of bytes (bytecode offset increment, unsigned;
/// line increment, signed), starting at offset 0 on `co_firstlineno`. An instruction is
/// on the line reached before the first increment that passes its offset; the last line
/// runs to the end of the bytecode, whose size the table does not say.
enum CPythonLineNumberTable {
    static func ranges(_ table: [UInt8], isCut: Bool, firstLine: Int) -> [CPythonLineTable.Range] {
        var ranges: [CPythonLineTable.Range] = []
        ranges.reserveCapacity(table.count / 2 + 1)
        var offset = 0
        var line = firstLine
        var index = 0
        while index + 1 < table.count {
            let end = offset + Int(table[index])
            ranges.append(.init(start: offset, end: end, line: line))
            offset = end
            line &+= Int(Int8(bitPattern: table[index + 1]))
            index += 2
        }
        // A cut table does not say where its last line ends: later pairs may move it.
        if !isCut { ranges.append(.init(start: offset, end: Int.max, line: line)) }
        return ranges
    }
}
