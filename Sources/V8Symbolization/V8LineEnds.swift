/// A script's line ends as V8 keeps them (`Script.line_ends`, a `FixedArray` of Smis): the
/// offset of each line's terminating newline, in UTF-16 units, ascending. V8 computes them
/// lazily; a script whose ends were never asked for has none, and its frames get no line.
public struct V8LineEnds: Hashable, Sendable {
    public var ends: [Int]

    public init(ends: [Int]) {
        self.ends = ends
    }

    /// Decodes the data of the `FixedArray` (8-byte Smis, the value in the high 32 bits) as
    /// the walker copies it; nil when an element is no Smi (the copy is not line ends).
    public init?(fixedArrayData bytes: [UInt8]) {
        var ends: [Int] = []
        ends.reserveCapacity(bytes.count / 8)
        var offset = 0
        while offset + 8 <= bytes.count {
            var word: UInt64 = 0
            for shift in 0..<8 {
                word |= UInt64(bytes[offset + shift]) << (8 * UInt64(shift))
            }
            guard word & 1 == 0 else { return nil }
            ends.append(Int(Int32(truncatingIfNeeded: Int64(bitPattern: word) >> 32)))
            offset += 8
        }
        self.ends = ends
    }

    /// The 1-based line holding `scriptOffset`; nil past the last line end or with no ends.
    public func line(ofScriptOffset scriptOffset: Int) -> Int? {
        guard scriptOffset >= 0, let last = ends.last, scriptOffset <= last else { return nil }
        var low = 0
        var high = ends.count
        while low < high {
            let middle = (low + high) / 2
            if ends[middle] < scriptOffset {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low + 1
    }
}
