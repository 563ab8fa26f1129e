import CPythonLayouts

/// A code object's line table decoded into byte ranges of its bytecode, whatever the
/// version's format (`CPythonLineNumberTable`, `CPythonLinePairTable`,
/// `CPythonLocationTable`), so one lookup serves every version.
public struct CPythonLineTable: Hashable, Sendable {
    /// Bytecode bytes `start..<end` are on `line` (nil: instructions without a line).
    public struct Range: Hashable, Sendable {
        public var start: Int
        public var end: Int
        public var line: Int?

        public init(start: Int, end: Int, line: Int?) {
            self.start = start
            self.end = end
            self.line = line
        }
    }

    /// Instruction values at or above this are "no instruction": the walker's 0xffffffff
    /// and f_lasti -1, also once the wire has kept only their low 24 bits (0xffffff).
    public static let noInstruction: UInt32 = 0x00FF_FFFF

    /// Sorted, non-empty, not overlapping.
    public var ranges: [Range]
    public var instructionKind: CPythonInstructionKind

    /// `ranges` as decoded; empty ranges are dropped.
    public init(ranges: [Range], instructionKind: CPythonInstructionKind) {
        self.ranges = ranges.filter { $0.start < $0.end }
        self.instructionKind = instructionKind
    }

    /// The line table of `layout`'s version, decoded from its bytes. A cut table answers
    /// for the instructions its copied part covers.
    public init(bytes: [UInt8], isCut: Bool, firstLine: Int, layout: CPythonLayout) {
        let ranges: [Range]
        switch layout.instructionKind {
        case .lastInstructionBytes: ranges = CPythonLineNumberTable.ranges(bytes, isCut: isCut, firstLine: firstLine)
        case .lastInstructionUnits: ranges = CPythonLinePairTable.ranges(bytes, firstLine: firstLine)
        case .instructionPointer: ranges = CPythonLocationTable.ranges(bytes, firstLine: firstLine)
        }
        self.init(ranges: ranges, instructionKind: layout.instructionKind)
    }

    /// The line of a frame's instruction, given as `tandem_cpython_frame.instruction`
    /// holds it (f_lasti in bytes for 3.8/3.9, in code units for 3.10; the byte offset
    /// from the inline bytecode for 3.11+). Nil for a frame that has not started, an
    /// instruction outside the (copied) table or one without a line: callers fall back
    /// to the code's first line.
    public func line(forInstruction instruction: UInt32) -> Int? {
        guard instruction < Self.noInstruction else { return nil }
        let offset = instructionKind == .lastInstructionUnits ? Int(instruction) * 2 : Int(instruction)
        // The last range starting at or before `offset`.
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].start <= offset { low = middle + 1 } else { high = middle }
        }
        guard low > 0, offset < ranges[low - 1].end else { return nil }
        return ranges[low - 1].line
    }
}
