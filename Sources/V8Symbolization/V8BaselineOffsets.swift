/// Sparkplug (baseline) code's map from machine code to bytecode (docs/v8.md, "Lines"): V8's
/// bytecode-offset table (the `ByteArray` in the baseline `Code`'s source-position-table slot)
/// decoded against the function's bytecodes, as V8's `baseline::BytecodeOffsetIterator` does.
///
/// Encoding: unsigned VLQs (7 bits a byte, least significant first, high bit on every byte but
/// the last), each the length of machine code one piece takes: the prologue's first, then one
/// per bytecode in the bytecodes' order. The table names no bytecode offsets: they come from
/// stepping through the bytecodes, each as long as its operands at its operand scale (the
/// prefixes Wide and DebugBreakWide double it, ExtraWide and DebugBreakExtraWide quadruple it)
/// by the build's `Bytecodes::kBytecodeSizes` (`V8Layout.bytecodeSizes`).
public struct V8BaselineOffsets: Hashable, Sendable {
    /// Where each piece's machine code ends (exclusive), increasing, with the bytecode offset
    /// it runs (-1: the prologue).
    public var pieces: [(end: UInt32, bytecodeOffset: Int32)] {
        zip(ends, bytecodeOffsets).map { ($0, $1) }
    }

    private var ends: [UInt32]
    private var bytecodeOffsets: [Int32]

    /// V8's offset of a frame still in its prologue (`kFunctionEntryBytecodeOffset`).
    public static let functionEntry: Int32 = -1

    /// Decodes `table` (the bytecode-offset table's data) against `bytecodes` (the
    /// BytecodeArray's), with `sizes` the build's `kBytecodeSizes` rows. A cut copy of either
    /// (the walker's bounds), a malformed number or a bytecode the sizes do not know ends the
    /// decoding there: pcs past it have no bytecode offset.
    public init(table: [UInt8], bytecodes: [UInt8], sizes: [[UInt8]]) {
        ends = []
        bytecodeOffsets = []
        var index = 0
        var end: UInt64 = 0
        var next = 0
        var current: Int32 = Self.functionEntry
        // Lengths past 32 bits (5 bytes) are no table's.
        while let length = V8SourcePositionTable.unsignedVLQ(table, &index, bits: 35) {
            end += length
            guard end <= UInt64(UInt32.max) else { break }
            ends.append(UInt32(end))
            bytecodeOffsets.append(current)
            // The next piece runs the bytecode at `next`.
            guard next < bytecodes.count, let size = Self.size(of: bytecodes, at: next, sizes: sizes) else { break }
            current = Int32(next)
            next += size
        }
    }

    /// Bytes the decoded table takes, for the aggregator's bound.
    public var size: Int { 8 * ends.count }

    /// The bytecode offset machine code at `pcOffset` runs: the piece whose (start, end]
    /// holds it, as V8 asks with a return address (past its call, so never a piece's start);
    /// for an instruction's own address (a sampled pc) ask with `pcOffset + 1`. Nil past the
    /// decoded pieces, or at 0.
    public func bytecodeOffset(atPCOffset pcOffset: UInt32) -> Int32? {
        guard pcOffset > 0 else { return nil }
        // The first piece whose end is at or past pcOffset.
        var low = 0, high = ends.count
        while low < high {
            let middle = (low + high) / 2
            if ends[middle] < pcOffset { low = middle + 1 } else { high = middle }
        }
        return low < ends.count ? bytecodeOffsets[low] : nil
    }

    /// The size of the bytecode at `offset` with its prefix; nil when the bytes end inside it
    /// or the sizes do not know it.
    static func size(of bytecodes: [UInt8], at offset: Int, sizes: [[UInt8]]) -> Int? {
        let code = bytecodes[offset]
        // Wide, ExtraWide, DebugBreakWide, DebugBreakExtraWide: the first four bytecodes.
        let (prefix, scale): (Int, Int) = switch code {
        case 0, 2: (1, 1)
        case 1, 3: (1, 2)
        default: (0, 0)
        }
        guard offset + prefix < bytecodes.count, scale < sizes.count else { return nil }
        let bytecode = Int(bytecodes[offset + prefix])
        guard bytecode < sizes[scale].count, sizes[scale][bytecode] > 0 else { return nil }
        return prefix + Int(sizes[scale][bytecode])
    }
}
