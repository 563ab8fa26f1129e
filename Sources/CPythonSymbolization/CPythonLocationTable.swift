/// CPython 3.11+ location table (`co_linetable`, Objects/locations.md): entries that
/// each cover 1-8 code units (2 bytes each, inline caches included), starting at unit 0
/// on `co_firstlineno`. An entry's first byte has bit 7 set, the code in bits 3-6 and
/// the length minus one in bits 0-2; what follows depends on the code:
///
/// - 15: no location (no line; the running line stays)
/// - 14: long form: svarint line delta, varint end-line delta, varint column + 1, varint end column + 1
/// - 13: no column: svarint line delta
/// - 10-12: one line, delta `code - 10`, then column and end-column bytes
/// - 0-9: short form, same line, one column byte
///
/// varint: 6-bit groups, low first, bit 6 = another follows; svarint: varint with the
/// sign in bit 0. Only lines are kept. Past the last entry no instruction has a line.
enum CPythonLocationTable {
    static func ranges(_ table: [UInt8], firstLine: Int) -> [CPythonLineTable.Range] {
        var ranges: [CPythonLineTable.Range] = []
        var reader = Reader(table: table)
        var unit = 0
        var line = firstLine
        while let first = reader.next() {
            // A byte without the start bit is not an entry's start: the table is corrupt.
            guard first & 0x80 != 0 else { break }
            let code = Int(first >> 3 & 0xF)
            let end = unit + Int(first & 7) + 1
            var entryLine: Int? = line
            switch code {
            case 15:
                entryLine = nil
            case 14:
                line &+= reader.signedVarint()
                entryLine = line
                _ = reader.varint()
                _ = reader.varint()
                _ = reader.varint()
            case 13:
                line &+= reader.signedVarint()
                entryLine = line
            case 10...12:
                line &+= code - 10
                entryLine = line
                reader.skip(2)
            default:
                reader.skip(1)
            }
            // An entry cut inside its payload is not used: its line may be incomplete.
            guard !reader.ranOut else { break }
            ranges.append(.init(start: unit * 2, end: end * 2, line: entryLine))
            unit = end
        }
        return ranges
    }

    /// Reads forward; past the end reads give 0 and set `ranOut`.
    private struct Reader {
        let table: [UInt8]
        var position = 0
        var ranOut = false

        init(table: [UInt8]) { self.table = table }

        mutating func next() -> UInt8? {
            guard position < table.count else { return nil }
            defer { position += 1 }
            return table[position]
        }

        mutating func skip(_ count: Int) {
            if table.count - position < count { ranOut = true }
            position = min(table.count, position + count)
        }

        mutating func varint() -> Int {
            var value = 0
            var shift = 0
            while true {
                guard let byte = next() else {
                    ranOut = true
                    return value
                }
                // Shifts past 63 bits give 0 (no trap): a hostile run of continuations stays harmless.
                value |= Int(byte & 63) << shift
                shift += 6
                if byte & 64 == 0 { return value }
            }
        }

        mutating func signedVarint() -> Int {
            let value = varint()
            return value & 1 != 0 ? -(value >> 1) : value >> 1
        }
    }
}
