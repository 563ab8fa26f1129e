/// CPython 3.10 `co_linetable` (PEP 626): pairs of bytes (bytecode length, unsigned;
/// line delta, signed), starting at offset 0 on `co_firstlineno`. Each pair covers the
/// next `length` bytes; a delta of -128 marks them as having no line and leaves the
/// running line as it was. Past the last pair no instruction has a line.
enum CPythonLinePairTable {
    static let noLine: Int8 = -128

    static func ranges(_ table: [UInt8], firstLine: Int) -> [CPythonLineTable.Range] {
        var ranges: [CPythonLineTable.Range] = []
        ranges.reserveCapacity(table.count / 2)
        var offset = 0
        var line = firstLine
        var index = 0
        while index + 1 < table.count {
            let end = offset + Int(table[index])
            let delta = Int8(bitPattern: table[index + 1])
            if delta != noLine { line &+= Int(delta) }
            ranges.append(.init(start: offset, end: end, line: delta == noLine ? nil : line))
            offset = end
            index += 2
        }
        return ranges
    }
}
