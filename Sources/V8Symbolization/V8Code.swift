/// An optimized code object as its code record describes it (docs/v8.md): which functions
/// TurboFan or Maglev inlined into it, and at which machine-code offsets each runs. Decoded
/// once from the walker's raw copies; a frame of this code then asks `inlinedFunctions(atCodeOffset:)`.
/// A Sparkplug code object's record carries instead its bytecodes and bytecode-offset table:
/// `baseline` then maps its machine code to bytecode offsets, and it inlines nothing.
public struct V8Code: Hashable, Sendable {
    /// One inlining: where it was called from (a source position whose inlining id names the
    /// caller, 0: the code's own function) and which of the record's functions it inlined (-1: the code's own).
    public struct Inlining: Hashable, Sendable {
        public var callSite: V8SourcePosition
        public var function: Int32
    }

    /// How many functions the code record lists (the indexes inlinings name).
    public var functionCount: Int
    public var inlinings: [Inlining]
    /// (machine-code offset, source position), sorted by offset, as the table lists them.
    public var positions: [Position]
    /// Sparkplug code: its machine code's bytecode offsets; nil for optimized code.
    public var baseline: V8BaselineOffsets?

    public struct Position: Hashable, Sendable {
        public var offset: UInt32
        public var position: V8SourcePosition
    }

    /// Bytes each inlining takes in the inlining-positions copy: the call site's
    /// `SourcePosition` (8 bytes), the inlined function's index (an `int`), padding.
    static let inliningSize = 16

    /// Decodes a code record's copies: `inliningPositions`, the data of the code's
    /// inlining-positions ByteArray; `sourcePositionTable`, its source position table's.
    public init(functionCount: Int, inliningPositions bytes: [UInt8], sourcePositionTable: [UInt8]) {
        self.functionCount = functionCount
        inlinings = stride(from: 0, to: bytes.count - (Self.inliningSize - 1), by: Self.inliningSize).map { start in
            var raw: UInt64 = 0
            for index in 0..<8 { raw |= UInt64(bytes[start + index]) << (8 * index) }
            var function: UInt32 = 0
            for index in 0..<4 { function |= UInt32(bytes[start + 8 + index]) << (8 * index) }
            return Inlining(callSite: V8SourcePosition(raw: raw), function: Int32(bitPattern: function))
        }
        positions = V8SourcePositionTable(bytes: sourcePositionTable).entries().map { Position(offset: $0.offset, position: $0.position) }
    }

    /// Decodes a Sparkplug code record's copies: `bytecodes`, the data of its BytecodeArray;
    /// `bytecodeOffsetTable`, the data of the table in its source-position-table slot; with
    /// `bytecodeSizes`, the build's (`V8Layout.bytecodeSizes`).
    public init(bytecodes: [UInt8], bytecodeOffsetTable: [UInt8], bytecodeSizes: [[UInt8]]) {
        functionCount = 0
        inlinings = []
        positions = []
        baseline = V8BaselineOffsets(table: bytecodeOffsetTable, bytecodes: bytecodes, sizes: bytecodeSizes)
    }

    /// Bytes the decoded code takes, for the aggregator's bound.
    public var size: Int { 64 + 16 * (functionCount + inlinings.count + positions.count) + (baseline?.size ?? 0) }

    /// The functions running at `codeOffset`, innermost first, as indexes into the record's functions,
    /// not counting the code's own function (outermost, always last): empty when nothing
    /// is inlined there. A malformed chain (an inlining id out of range or not decreasing)
    /// ends where it breaks.
    public func inlinedFunctions(atCodeOffset codeOffset: UInt32) -> [Int] {
        frames(atCodeOffset: codeOffset).inlined.map(\.function)
    }

    /// What runs at `codeOffset`: the inlined functions, innermost first, each with the
    /// script offset it is at (the table's position for the innermost, then each inlining's
    /// call site), and the script offset of the code's own function (nil when the table has
    /// no position there or the chain breaks before reaching it). Offsets are in the script
    /// of the function they belong to.
    public func frames(atCodeOffset codeOffset: UInt32) -> Frames {
        // The last entry at or before the offset.
        var low = 0, high = positions.count
        while low < high {
            let middle = (low + high) / 2
            if positions[middle].offset <= codeOffset { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return Frames(inlined: [], ownScriptOffset: nil) }
        var position = positions[low - 1].position
        var chain: [(function: Int, scriptOffset: Int?)] = []
        var previous = Int.max
        while position.inliningID != 0 {
            guard position.inliningID < previous, position.inliningID <= inlinings.count else {
                return Frames(inlined: chain, ownScriptOffset: nil)
            }
            previous = position.inliningID
            let inlining = inlinings[previous - 1]
            if inlining.function >= 0 {
                guard Int(inlining.function) < functionCount else { return Frames(inlined: chain, ownScriptOffset: nil) }
                chain.append((Int(inlining.function), position.scriptOffset))
            }
            position = inlining.callSite
        }
        return Frames(inlined: chain, ownScriptOffset: position.scriptOffset)
    }

    /// The frames one machine-code offset stands for (`frames(atCodeOffset:)`).
    public struct Frames: Sendable {
        public var inlined: [(function: Int, scriptOffset: Int?)]
        public var ownScriptOffset: Int?
    }
}
