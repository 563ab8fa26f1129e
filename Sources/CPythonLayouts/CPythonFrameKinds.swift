/// What a frame's instruction value holds (`enum tandem_cpython_instruction_kind`): the
/// line-table lookup converts each to the table's own unit.
public enum CPythonInstructionKind: UInt8, Hashable, Sendable {
    /// `f_lasti`: byte offset of the last instruction started (3.8, 3.9).
    case lastInstructionBytes = 0
    /// `f_lasti`: index of the last code unit started, 2 bytes each (3.10).
    case lastInstructionUnits = 1
    /// Byte offset of `prev_instr` / `instr_ptr` from the inline bytecode (3.11+).
    case instructionPointer = 2
}

/// How the walker tells where one C-level evaluation ends (`enum tandem_cpython_entry_kind`),
/// which is where Python frames are merged into the native stack.
public enum CPythonEntryKind: UInt8, Hashable, Sendable {
    /// Every frame has its own `_PyEval_EvalFrameDefault` call (3.8 to 3.10).
    case everyFrame = 0
    /// The frame's `is_entry` byte is set (3.11).
    case isEntry = 1
    /// The previous frame is a C-stack shim (`owner == ownerCStack`, 3.12+).
    case cStackShim = 2
}
