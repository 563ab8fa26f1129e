import RubySymbolization
import Testing

/// The succinct index table, built by hand from a list of entry start positions as iseq.c's
/// succ_index_table_create lays it out, so the lookup is checked apart from any fixture.
@Suite struct LineTableTests {
    /// Little-endian bytes of the table for entries starting at `starts` (sorted), covering `size` positions.
    static func table(starts: [Int], size: Int) -> [UInt8] {
        var immediate = [UInt64](repeating: 0, count: 6)
        for position in 0..<min(size, 54) {
            let rank = UInt64(starts.filter { $0 <= position }.count)
            immediate[position / 9] |= rank << UInt64((position % 9) * 7)
        }
        var bytes = immediate.flatMap(littleEndian)
        var block = 0
        while 54 + block * 512 < size {
            let first = 54 + block * 512
            let rank = UInt32(starts.filter { $0 < first }.count)
            var bits = [UInt64](repeating: 0, count: 8)
            for start in starts where start >= first && start < first + 512 {
                bits[(start - first) / 64] |= 1 << UInt64((start - first) % 64)
            }
            var smallRanks: UInt64 = 0
            var running = 0
            for small in 1..<8 {
                running += bits[small - 1].nonzeroBitCount
                smallRanks |= UInt64(running) << UInt64((small - 1) * 9)
            }
            bytes += littleEndian(UInt64(rank)) + littleEndian(smallRanks) + bits.flatMap(littleEndian)
            block += 1
        }
        return bytes
    }

    static func littleEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

    @Test func eachPositionGetsTheLineOfTheLastEntryStartingAtOrBeforeIt() {
        let starts = [0, 3, 53, 54, 100, 566, 700, 1200]
        let lines: [Int32] = [10, 11, 12, 13, 14, 15, 16, 17]
        let table = RubyLineTable(lines: lines, succinctTable: Self.table(starts: starts, size: 1300), entryCount: 8)
        for position in [0, 2, 3, 52, 53, 54, 99, 100, 565, 566, 567, 699, 700, 1199, 1200, 1299] {
            let expected = lines[starts.lastIndex { $0 <= position }!]
            #expect(table.line(atPosition: position) == Int(expected), "position \(position)")
        }
    }

    @Test func oneEntryNeedsNoTable() {
        let table = RubyLineTable(lines: [7], succinctTable: [], entryCount: 1)
        #expect(table.line(atPosition: 500) == 7)
    }

    @Test func positionsPastTheCopiedTableHaveNoLine() {
        let table = RubyLineTable(lines: [1, 2], succinctTable: Self.table(starts: [0, 60], size: 100).prefix(48).map { $0 },
                                  entryCount: 2)
        #expect(table.line(atPosition: 10) == 1)
        #expect(table.line(atPosition: 80) == nil)
        #expect(table.line(atPosition: -1) == nil)
    }

    @Test func hostileRanksStayInBounds() {
        let table = RubyLineTable(lines: [1], succinctTable: [UInt8](repeating: 0xFF, count: 128), entryCount: 5)
        for position in [0, 20, 53, 54, 200, 4000] {
            #expect(table.line(atPosition: position) == nil || table.line(atPosition: position) == 1)
        }
    }
}
