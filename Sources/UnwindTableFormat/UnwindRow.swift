/// How to find the canonical frame address (the caller's stack pointer before the call)
/// from the registers of the current frame.
public enum CFARule: Hashable, Sendable {
    /// No FDE covers this address (a gap between functions, or past the last one).
    case noInfo
    /// CFA = `register` + `offset`.
    case registerOffset(CFARegister, offset: Int32)
    /// The PLT expression `rsp + rspOffset + ((rip & 15) >= threshold) * 8`: inside a
    /// lazy-binding PLT entry the pushes happen at fixed byte offsets of each 16-byte slot.
    case pltExpression(rspOffset: Int32, threshold: UInt8)
    /// The return address is undefined: the outermost frame (`_start`, `clone`'s child).
    case endOfStack
    /// Unwind information exists but cannot be followed with rsp/rbp arithmetic
    /// (another CFA register, a DWARF expression, a return address not at CFA-8).
    case unsupported
}

/// The registers a CFA can be based on in the compiled table.
public enum CFARegister: UInt8, Hashable, Sendable {
    case rsp
    case rbp
}

/// How to recover the caller's rbp.
public enum FramePointerRule: Hashable, Sendable {
    /// rbp still holds the caller's value.
    case unchanged
    /// The caller's rbp is saved at CFA + `offset`.
    case cfaOffset(Int32)
    /// The caller's rbp cannot be recovered (undefined, or kept where the table cannot say).
    case undefined
}

/// One row of a compiled table: the rules that hold from `startAddress` up to the next
/// row's start. On x86-64 the return address is always at CFA - 8 in a usable row; rows
/// where it is not are `unsupported`.
public struct UnwindRow: Hashable, Sendable {
    /// An ELF virtual address, as in the file's symbol table (not a runtime address).
    public var startAddress: UInt64
    public var cfa: CFARule
    public var rbp: FramePointerRule

    public init(startAddress: UInt64, cfa: CFARule, rbp: FramePointerRule) {
        self.startAddress = startAddress
        self.cfa = cfa
        self.rbp = rbp
    }

    /// Whether `other` has the same rules (rows with equal rules are merged).
    package func hasSameRules(as other: UnwindRow) -> Bool {
        cfa == other.cfa && rbp == other.rbp
    }
}
