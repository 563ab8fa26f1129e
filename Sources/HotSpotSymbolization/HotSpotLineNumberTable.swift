/// A method's compressed line number table (CompressedLineNumberReadStream): pairs of
/// (bci delta, line delta), one byte `bci << 3 | line` when both are small, else 0xFF and
/// two signed UNSIGNED5 deltas; a 0 byte ends it. It follows the method's bytecode in its
/// ConstMethod.
public struct HotSpotLineNumberTable: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var bci: Int32
        public var line: Int32

        public init(bci: Int32, line: Int32) {
            self.bci = bci
            self.line = line
        }
    }

    public let entries: [Entry]
    /// The copy ended before the table's terminator (the walker's bound cut it, or it is garbage).
    public let isCut: Bool

    public init(entries: [Entry], isCut: Bool) {
        self.entries = entries
        self.isCut = isCut
    }

    /// Decodes `bytes`, a copy from the table's first byte; what the copy holds past the
    /// terminator is ignored. A pair the copy ends inside of is dropped and flags the table cut.
    public init(compressed bytes: ArraySlice<UInt8>) {
        var reader = HotSpotUnsigned5Reader(bytes)
        var entries: [Entry] = []
        var bci: Int32 = 0
        var line: Int32 = 0
        while let first = reader.readByte() {
            if first == 0 {
                self.init(entries: entries, isCut: false)
                return
            }
            if first == 0xff {
                guard let bciDelta = reader.readSigned(), let lineDelta = reader.readSigned() else { break }
                bci &+= bciDelta
                line &+= lineDelta
            } else {
                bci &+= Int32(first >> 3)
                line &+= Int32(first & 7)
            }
            entries.append(Entry(bci: bci, line: line))
        }
        self.init(entries: entries, isCut: true)
    }

    /// The source line of bytecode index `bci`, as `Method::line_number_from_bci` answers:
    /// the entry at `bci`, else the one with the highest bci below it (entries are not
    /// sorted). nil: no entry at or below `bci`.
    public func line(forBCI bci: Int32) -> Int32? {
        var best: Entry?
        for entry in entries {
            if entry.bci == bci { return entry.line }
            if entry.bci < bci, best.map({ entry.bci >= $0.bci }) ?? true { best = entry }
        }
        return best?.line
    }
}
