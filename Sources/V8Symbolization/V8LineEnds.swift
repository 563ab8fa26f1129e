/// A script's line ends as V8 counts them: the offset, in UTF-16 code units, of each line's
/// terminator, ascending, then the source's length (V8 adds it whether or not the source ends
/// with a terminator). V8 positions
/// are offsets in the same units, so the line of a position is the first end at or past it.
///
/// V8 keeps these in `Script.line_ends`, but fills them lazily (a script whose ends no stack
/// trace asked for has none); the aggregator counts them from the script's file instead
/// (`init(source:)`, docs/v8.md "Lines").
public struct V8LineEnds: Hashable, Sendable {
    public var ends: [Int]

    public init(ends: [Int]) {
        self.ends = ends
    }

    /// Counts the line ends of a script file's bytes as V8 would of the source Node reads
    /// from it: UTF-8 decoded with each invalid sequence replaced by U+FFFD (one UTF-16 unit,
    /// as Node's `utf8` decoding does); terminators `\n`, `\r` (`\r\n` is one, at the `\n`),
    /// U+2028 and U+2029, as V8's `String::CalculateLineEnds`. A leading byte-order mark
    /// counts as one unit (Node strips it before compiling: positions of such a file are
    /// one unit early, so a line may read one too far only when the mark is followed by
    /// an empty first line).
    public init(source bytes: [UInt8]) {
        var ends: [Int] = []
        var unit = 0
        var previousCR = false
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar.value {
            case 0x0A:
                if previousCR { ends[ends.count - 1] = unit } else { ends.append(unit) }
            case 0x0D, 0x2028, 0x2029:
                ends.append(unit)
            default:
                break
            }
            previousCR = scalar.value == 0x0D
            unit += scalar.utf16.count
        }
        // V8 ends the last line one past the source (the position of an implicit return).
        ends.append(unit)
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
