/// The line of each instruction of an iseq, from the copies of its `insns_info` entries and
/// its succinct index table (iseq.c's `succ_index_table`: position → entry index, by rank
/// over a bit per instruction that starts a new entry).
public struct RubyLineTable: Hashable, Sendable {
    /// Positions below this are ranked by the immediate part: 6 words of 9 ranks × 7 bits.
    static let immediatePositions = 54
    static let immediateBytes = 48
    /// A block of the succinct part: rank (u32, padded), small-block ranks (u64), 8 × 64 bits.
    static let blockBytes = 80
    static let blockPositions = 512

    /// `line_no` of each entry copied, in order.
    public var lines: [Int32]
    /// The succinct index table's bytes as copied (empty when the iseq has one entry or none).
    public var succinctTable: [UInt8]
    /// `insns_info.size`: how many entries the iseq has (more than `lines` when the copy was cut).
    public var entryCount: Int

    public init(lines: [Int32], succinctTable: [UInt8], entryCount: Int) {
        self.lines = lines
        self.succinctTable = succinctTable
        self.entryCount = entryCount
    }

    /// The line of the instruction at `position` (in VALUEs from `iseq_encoded`, as
    /// `rb_vm_get_sourceline` computes it); nil when the copies do not reach it.
    public func line(atPosition position: Int) -> Int? {
        guard position >= 0, entryCount > 0 else { return nil }
        if entryCount == 1 { return lines.first.map(Int.init) }
        guard let rank = rank(of: position), rank >= 1, rank <= lines.count else { return nil }
        return Int(lines[rank - 1])
    }

    /// `succ_index_lookup`: the number of entries that start at or before `position`.
    func rank(of position: Int) -> Int? {
        if position < Self.immediatePositions {
            guard let word = word(at: (position / 9) * 8) else { return nil }
            return Int((word >> UInt64((position % 9) * 7)) & 0x7F)
        }
        let bit = (position - Self.immediatePositions) % Self.blockPositions
        let block = Self.immediateBytes + (position - Self.immediatePositions) / Self.blockPositions * Self.blockBytes
        let small = bit / 64
        guard let blockRank = word(at: block).map({ Int($0 & 0xFFFF_FFFF) }),
              let smallRanks = word(at: block + 8), let bits = word(at: block + 16 + small * 8)
        else { return nil }
        let smallRank = small == 0 ? 0 : Int((smallRanks >> UInt64((small - 1) * 9)) & 0x1FF)
        return blockRank + smallRank + (bits << UInt64(63 - bit % 64)).nonzeroBitCount
    }

    private func word(at offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= succinctTable.count else { return nil }
        var value: UInt64 = 0
        for index in (0..<8).reversed() { value = value << 8 | UInt64(succinctTable[offset + index]) }
        return value
    }
}
