import UnwindTableFormat

/// Runs DWARF CFA programs for x86-64 and reduces each row of the result to the rules the
/// compiled table keeps: the CFA, rbp and (to verify it) the return address.
struct CFAInterpreter {
    /// DWARF register numbers of the x86-64 psABI.
    static let registerRBP: UInt64 = 6
    static let registerRSP: UInt64 = 7
    static let registerReturnAddress: UInt64 = 16
    /// Bound on nested `DW_CFA_remember_state` (compilers nest one or two).
    static let stateStackLimit = 64

    enum RegisterRule: Hashable {
        /// No instruction mentioned the register: by convention it keeps its value.
        case unspecified
        case undefined
        case sameValue
        case offset(Int64)
        case valueOffset(Int64)
        case register(UInt64)
        case expression
        case valueExpression
    }

    enum CFADefinition: Hashable {
        case registerOffset(register: UInt64, offset: Int64)
        case plt(rspOffset: Int64, threshold: UInt8)
        case unsupportedExpression
    }

    struct State: Hashable {
        var cfa: CFADefinition = .registerOffset(register: CFAInterpreter.registerRSP, offset: 8)
        var rbp: RegisterRule = .unspecified
        var returnAddress: RegisterRule = .unspecified
    }

    /// Why rows were compiled as `unsupported` or lost their rbp rule, counted per row.
    var counts = UnwindTable.Statistics()

    // MARK: Running programs

    /// Runs a CIE's initial instructions.
    func initialState(of cie: CommonInformationEntry, in section: CallFrameSection) throws(UnwindTableError) -> State {
        var state = State()
        var stack: [State] = []
        var location: UInt64 = 0
        var cursor = section.cursor.subrange(cie.instructions.lowerBound, cie.instructions.upperBound)
        try run(&cursor, cie: cie, section: section, initial: nil, state: &state, stack: &stack,
                location: &location, end: 0) { _, _ throws(UnwindTableError) in }
        return state
    }

    /// Runs an FDE's instructions from its CIE's initial state and calls `emit` with the
    /// state at each location where a row starts, in increasing order of location.
    func rows(of fde: FrameDescriptionEntry, cie: CommonInformationEntry, initial: State, in section: CallFrameSection,
              emit: (UInt64, State) throws(UnwindTableError) -> Void) throws(UnwindTableError) {
        var state = initial
        var stack: [State] = []
        var location = fde.start
        var cursor = section.cursor.subrange(fde.instructions.lowerBound, fde.instructions.upperBound)
        try run(&cursor, cie: cie, section: section, initial: initial, state: &state, stack: &stack,
                location: &location, end: fde.end, emit: emit)
        if location < fde.end { try emit(location, state) }
    }

    /// `initial` is nil while running a CIE: location instructions are then misplaced.
    private func run(_ cursor: inout ByteCursor, cie: CommonInformationEntry, section: CallFrameSection,
                     initial: State?, state: inout State, stack: inout [State],
                     location: inout UInt64, end: UInt64,
                     emit: (UInt64, State) throws(UnwindTableError) -> Void) throws(UnwindTableError) {
        let dataAlignment = cie.dataAlignment
        func advance(_ delta: UInt64, at position: Int) throws(UnwindTableError) {
            guard initial != nil else { throw cursor.error(.misplacedInstruction(0x40), at: position) }
            let (scaled, overflowA) = delta.multipliedReportingOverflow(by: cie.codeAlignment)
            let (next, overflowB) = location.addingReportingOverflow(scaled)
            guard !overflowA, !overflowB else { throw cursor.error(.locationOutOfRange(location), at: position) }
            try moveTo(next)
        }
        func moveTo(_ next: UInt64) throws(UnwindTableError) {
            if next > location {
                if location < end { try emit(location, state) }
                location = next
            }
        }
        func setRule(_ register: UInt64, _ rule: RegisterRule) {
            if register == Self.registerRBP { state.rbp = rule }
            if register == cie.returnAddressRegister { state.returnAddress = rule }
        }
        func restore(_ register: UInt64) {
            let original = initial ?? State()
            if register == Self.registerRBP { state.rbp = original.rbp }
            if register == cie.returnAddressRegister { state.returnAddress = original.returnAddress }
        }
        func factored(_ value: UInt64) -> Int64 { Int64(bitPattern: value) &* dataAlignment }
        func factored(_ value: Int64) -> Int64 { value &* dataAlignment }
        func skipBlock() throws(UnwindTableError) {
            let length = try cursor.uleb128()
            guard length <= UInt64(cursor.remaining) else { throw cursor.error(.truncated) }
            cursor.position += Int(length)
        }

        while !cursor.isAtEnd {
            let position = cursor.position
            let opcode = try cursor.u8()
            let operand = opcode & 0x3F
            switch opcode >> 6 {
            case 1: // DW_CFA_advance_loc
                try advance(UInt64(operand), at: position)
                continue
            case 2: // DW_CFA_offset
                setRule(UInt64(operand), .offset(factored(try cursor.uleb128())))
                continue
            case 3: // DW_CFA_restore
                restore(UInt64(operand))
                continue
            default: break
            }
            switch opcode {
            case 0x00: break // DW_CFA_nop
            case 0x01: // DW_CFA_set_loc
                guard initial != nil else { throw cursor.error(.misplacedInstruction(opcode), at: position) }
                let target: UInt64
                switch section.flavor {
                case .ehFrame: target = try cursor.encodedPointer(cie.pointerEncoding, bases: section.bases)
                case .debugFrame: target = try cursor.u64()
                }
                guard target >= location else { throw cursor.error(.locationOutOfRange(target), at: position) }
                try moveTo(target)
            case 0x02: try advance(UInt64(try cursor.u8()), at: position)
            case 0x03: try advance(UInt64(try cursor.u16()), at: position)
            case 0x04: try advance(UInt64(try cursor.u32()), at: position)
            case 0x1D: try advance(try cursor.u64(), at: position) // DW_CFA_MIPS_advance_loc8
            case 0x05: // DW_CFA_offset_extended
                let register = try cursor.uleb128()
                setRule(register, .offset(factored(try cursor.uleb128())))
            case 0x06: restore(try cursor.uleb128()) // DW_CFA_restore_extended
            case 0x07: setRule(try cursor.uleb128(), .undefined)
            case 0x08: setRule(try cursor.uleb128(), .sameValue)
            case 0x09: // DW_CFA_register
                let register = try cursor.uleb128()
                setRule(register, .register(try cursor.uleb128()))
            case 0x0A: // DW_CFA_remember_state
                guard stack.count < Self.stateStackLimit else {
                    throw cursor.error(.stateStackTooDeep(limit: Self.stateStackLimit), at: position)
                }
                stack.append(state)
            case 0x0B: // DW_CFA_restore_state (the CFA is part of the saved state, as GCC and readelf do)
                guard let saved = stack.popLast() else { throw cursor.error(.restoreStateWithoutRemember, at: position) }
                state = saved
            case 0x0C: // DW_CFA_def_cfa
                let register = try cursor.uleb128()
                state.cfa = .registerOffset(register: register, offset: Int64(bitPattern: try cursor.uleb128()))
            case 0x12: // DW_CFA_def_cfa_sf
                let register = try cursor.uleb128()
                state.cfa = .registerOffset(register: register, offset: factored(try cursor.sleb128()))
            case 0x0D: // DW_CFA_def_cfa_register
                let register = try cursor.uleb128()
                if case .registerOffset(_, let offset) = state.cfa {
                    state.cfa = .registerOffset(register: register, offset: offset)
                } else {
                    state.cfa = .unsupportedExpression
                }
            case 0x0E, 0x13: // DW_CFA_def_cfa_offset, DW_CFA_def_cfa_offset_sf
                let offset = opcode == 0x0E ? Int64(bitPattern: try cursor.uleb128()) : factored(try cursor.sleb128())
                if case .registerOffset(let register, _) = state.cfa {
                    state.cfa = .registerOffset(register: register, offset: offset)
                } else {
                    state.cfa = .unsupportedExpression
                }
            case 0x0F: // DW_CFA_def_cfa_expression
                let length = try cursor.uleb128()
                guard length <= UInt64(cursor.remaining) else { throw cursor.error(.truncated) }
                let expression = cursor.position..<(cursor.position + Int(length))
                cursor.position = expression.upperBound
                state.cfa = Self.classifyCFAExpression(cursor.bytes[expression])
            case 0x10, 0x16: // DW_CFA_expression, DW_CFA_val_expression
                let register = try cursor.uleb128()
                try skipBlock()
                setRule(register, opcode == 0x10 ? .expression : .valueExpression)
            case 0x11: // DW_CFA_offset_extended_sf
                let register = try cursor.uleb128()
                setRule(register, .offset(factored(try cursor.sleb128())))
            case 0x14: // DW_CFA_val_offset
                let register = try cursor.uleb128()
                setRule(register, .valueOffset(factored(try cursor.uleb128())))
            case 0x15: // DW_CFA_val_offset_sf
                let register = try cursor.uleb128()
                setRule(register, .valueOffset(factored(try cursor.sleb128())))
            case 0x2E: _ = try cursor.uleb128() // DW_CFA_GNU_args_size: the CFA does not depend on it
            case 0x2F: // DW_CFA_GNU_negative_offset_extended
                let register = try cursor.uleb128()
                setRule(register, .offset(0 &- factored(try cursor.uleb128())))
            default:
                throw cursor.error(.unknownCFAInstruction(opcode), at: position)
            }
        }
    }

    /// Recognizes the CFA expression of lazy-binding PLT entries,
    /// `DW_OP_breg7 K; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge;
    /// DW_OP_lit3; DW_OP_shl; DW_OP_plus`, i.e. `rsp + K + ((rip & 15) >= N) << 3`.
    static func classifyCFAExpression(_ expression: ArraySlice<UInt8>) -> CFADefinition {
        var bytes = expression[...]
        guard bytes.popFirst() == 0x77 else { return .unsupportedExpression } // DW_OP_breg7 (rsp)
        // SLEB128 offset, at most 3 bytes for any offset the table can hold.
        var offset: Int64 = 0
        var shift: Int64 = 0
        while true {
            guard let byte = bytes.popFirst(), shift < 21 else { return .unsupportedExpression }
            offset |= Int64(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 {
                if byte & 0x40 != 0 { offset |= -1 << shift }
                break
            }
        }
        // DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and
        guard bytes.popFirst() == 0x80, bytes.popFirst() == 0x00, bytes.popFirst() == 0x3F, bytes.popFirst() == 0x1A,
              let literal = bytes.popFirst(), (0x30...0x3F).contains(literal) else { return .unsupportedExpression }
        // DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
        guard Array(bytes) == [0x2A, 0x33, 0x24, 0x22] else { return .unsupportedExpression }
        return .plt(rspOffset: offset, threshold: literal - 0x30)
    }

    // MARK: Reducing a state to a table row

    /// The largest CFA offset a packed entry holds (19 bits).
    static let maximumCFAOffset: Int64 = (1 << 19) - 1
    /// rbp offsets are stored as a signed byte of 8-byte units.
    static let framePointerOffsetRange: ClosedRange<Int64> = -1024...1016

    /// The table row for `state` at `address`; counts what it had to give up.
    mutating func row(at address: UInt64, state: State, cie: CommonInformationEntry) -> UnwindRow {
        counts.rowsBeforeMerging += 1
        func unsupported(_ reason: UnwindTable.UnsupportedReason) -> UnwindRow {
            counts.unsupportedRows[reason, default: 0] += 1
            return UnwindRow(startAddress: address, cfa: .unsupported, rbp: .unchanged)
        }
        if state.returnAddress == .undefined {
            counts.endOfStackRows += 1
            return UnwindRow(startAddress: address, cfa: .endOfStack, rbp: .unchanged)
        }
        guard cie.returnAddressRegister == Self.registerReturnAddress, state.returnAddress == .offset(-8) else {
            return unsupported(.returnAddressRule)
        }
        let cfa: CFARule
        switch state.cfa {
        case .registerOffset(let register, let offset):
            guard register == Self.registerRSP || register == Self.registerRBP else { return unsupported(.cfaRegister) }
            guard (0...Self.maximumCFAOffset).contains(offset) else { return unsupported(.offsetOutOfRange) }
            cfa = .registerOffset(register == Self.registerRSP ? .rsp : .rbp, offset: Int32(offset))
        case .plt(let offset, let threshold):
            guard (0...Self.maximumCFAOffset).contains(offset) else { return unsupported(.offsetOutOfRange) }
            cfa = .pltExpression(rspOffset: Int32(offset), threshold: threshold)
        case .unsupportedExpression:
            return unsupported(.cfaExpression)
        }
        let rbp: FramePointerRule
        switch state.rbp {
        case .unspecified, .sameValue: rbp = .unchanged
        case .undefined: rbp = .undefined
        case .offset(let offset):
            guard Self.framePointerOffsetRange.contains(offset), offset % 8 == 0 else { return unsupported(.offsetOutOfRange) }
            rbp = .cfaOffset(Int32(offset))
        case .valueOffset, .register, .expression, .valueExpression:
            counts.framePointerNotRecoverableRows += 1
            rbp = .undefined
        }
        if case .pltExpression = cfa, rbp != .unchanged { return unsupported(.framePointerInPLT) }
        return UnwindRow(startAddress: address, cfa: cfa, rbp: rbp)
    }
}
