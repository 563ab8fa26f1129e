/// Function names of a Go binary from its `.gopclntab` (the runtime's own table of
/// functions, kept by `-ldflags=-s -w`, which removes `.symtab`). Supports the
/// little-endian layouts of Go 1.2–1.15, 1.16–1.17 and 1.18 and later.
enum GoPCLNTab {
    /// Functions as symbols (virtual address, size up to the next function, Go name).
    static func functions(in table: [UInt8]) -> [RawSymbol] {
        guard table.count >= 16, table[4] == 0, table[5] == 0 else { return [] }
        let magic = read32(table, 0)
        let pointerSize = Int(table[7])
        guard pointerSize == 4 || pointerSize == 8, let magic else { return [] }
        switch magic {
        case 0xffff_fff0, 0xffff_fff1: return go118(table, pointerSize: pointerSize)
        case 0xffff_fffa: return go116(table, pointerSize: pointerSize)
        case 0xffff_fffb: return go12(table, pointerSize: pointerSize)
        default: return []
        }
    }

    private static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    private static func readWord(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> UInt64? {
        guard offset >= 0, offset + size <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    /// The NUL-terminated name at `offset`.
    private static func name(_ bytes: [UInt8], _ offset: Int) -> String? {
        guard offset >= 0, offset < bytes.count else { return nil }
        var end = offset
        while end < bytes.count, bytes[end] != 0 { end += 1 }
        guard end > offset, end < bytes.count else { return nil }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    /// Entries (start, end, name offset) become symbols; malformed entries are skipped.
    private static func symbols(count: Int, entry: (Int) -> (start: UInt64, funcOffset: Int)?,
                                nameOf: (Int) -> String?) -> [RawSymbol] {
        var symbols: [RawSymbol] = []
        symbols.reserveCapacity(count)
        for index in 0..<count {
            guard let current = entry(index), let next = entry(index + 1), next.start > current.start,
                  let name = nameOf(current.funcOffset)
            else { continue }
            symbols.append(RawSymbol(address: current.start, size: next.start - current.start, name: name, rank: 0))
        }
        return symbols
    }

    /// Go 1.18+: entries are 32-bit offsets from `textStart`.
    private static func go118(_ table: [UInt8], pointerSize: Int) -> [RawSymbol] {
        let header = 8
        guard let functionCount = readWord(table, header, pointerSize),
              let textStart = readWord(table, header + 2 * pointerSize, pointerSize),
              let nameTable = readWord(table, header + 3 * pointerSize, pointerSize),
              let functionTable = readWord(table, header + 7 * pointerSize, pointerSize),
              functionCount < 10_000_000, nameTable < table.count, functionTable < table.count
        else { return [] }
        let functions = Int(functionTable)
        let names = Int(nameTable)
        return symbols(count: Int(functionCount), entry: { index in
            guard let start = read32(table, functions + index * 8), let offset = read32(table, functions + index * 8 + 4)
            else { return nil }
            return (textStart &+ UInt64(start), Int(offset))
        }, nameOf: { funcOffset in
            guard let nameOffset = read32(table, functions + funcOffset + 4) else { return nil }
            return name(table, names + Int(Int32(bitPattern: nameOffset)))
        })
    }

    /// Go 1.16–1.17: entries are absolute pointers.
    private static func go116(_ table: [UInt8], pointerSize: Int) -> [RawSymbol] {
        let header = 8
        guard let functionCount = readWord(table, header, pointerSize),
              let nameTable = readWord(table, header + 2 * pointerSize, pointerSize),
              let functionTable = readWord(table, header + 6 * pointerSize, pointerSize),
              functionCount < 10_000_000, nameTable < table.count, functionTable < table.count
        else { return [] }
        let functions = Int(functionTable)
        let names = Int(nameTable)
        let entrySize = 2 * pointerSize
        return symbols(count: Int(functionCount), entry: { index in
            guard let start = readWord(table, functions + index * entrySize, pointerSize),
                  let offset = readWord(table, functions + index * entrySize + pointerSize, pointerSize)
            else { return nil }
            return (start, Int(truncatingIfNeeded: offset))
        }, nameOf: { funcOffset in
            guard let nameOffset = read32(table, functions + funcOffset + pointerSize) else { return nil }
            return name(table, names + Int(Int32(bitPattern: nameOffset)))
        })
    }

    /// Go 1.2–1.15: the function table follows the header; offsets are from the table start.
    private static func go12(_ table: [UInt8], pointerSize: Int) -> [RawSymbol] {
        guard let functionCount = readWord(table, 8, pointerSize), functionCount < 10_000_000 else { return [] }
        let functions = 8 + pointerSize
        let entrySize = 2 * pointerSize
        return symbols(count: Int(functionCount), entry: { index in
            guard let start = readWord(table, functions + index * entrySize, pointerSize),
                  let offset = readWord(table, functions + index * entrySize + pointerSize, pointerSize)
            else { return nil }
            return (start, Int(truncatingIfNeeded: offset))
        }, nameOf: { funcOffset in
            guard let nameOffset = read32(table, funcOffset + pointerSize) else { return nil }
            return name(table, Int(Int32(bitPattern: nameOffset)))
        })
    }
}
