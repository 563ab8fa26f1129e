import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

// DW_CFA opcodes used below.
private let advance1: UInt8 = 0x41, advance3: UInt8 = 0x43
private let offsetRBP: UInt8 = 0x86, restoreRBP: UInt8 = 0xC6
private let rememberState: UInt8 = 0x0A, restoreState: UInt8 = 0x0B
private func defCFAOffset(_ offset: UInt64) -> [UInt8] { [0x0E] + uleb(offset) }
private let defCFARegisterRBP: [UInt8] = [0x0D, 0x06]

/// Compiles a one-FDE .eh_frame at 0x1000..<0x1040 whose program is `instructions`.
private func compileFDE(_ instructions: [UInt8], cieInstructions: [UInt8]? = nil) throws -> UnwindTable {
    var builder = CFIBuilder(.ehFrame)
    let cie = cieInstructions.map { builder.cie(instructions: $0) } ?? builder.cie()
    builder.fde(cie: cie, start: 0x1000, length: 0x40, instructions: instructions)
    return try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes))
}

private func row(_ address: UInt64, _ cfa: CFARule, _ rbp: FramePointerRule = .unchanged) -> UnwindRow {
    UnwindRow(startAddress: address, cfa: cfa, rbp: rbp)
}

@Suite struct CFAProgramTests {
    @Test func pushMovPrologueAndEpilogue() throws {
        // push %rbp; mov %rsp,%rbp; ...; leave (at 0x1034); ret
        let table = try compileFDE([advance1] + defCFAOffset(16) + [offsetRBP, 2, advance3] + defCFARegisterRBP
                                   + [0x02, 0x30, 0x0C, 0x07, 0x08])
        #expect(table.rows == [
            row(0x1000, .registerOffset(.rsp, offset: 8)),
            row(0x1001, .registerOffset(.rsp, offset: 16), .cfaOffset(-16)),
            row(0x1004, .registerOffset(.rbp, offset: 16), .cfaOffset(-16)),
            row(0x1034, .registerOffset(.rsp, offset: 8), .cfaOffset(-16)),
            row(0x1040, .noInfo),
        ])
        #expect(table.lookup(address: 0x1003) == row(0x1001, .registerOffset(.rsp, offset: 16), .cfaOffset(-16)))
        #expect(table.lookup(address: 0x1040) == nil)
        #expect(table.lookup(address: 0x0FFF) == nil)
    }

    @Test func rememberAndRestoreStateAroundAnEarlyReturn() throws {
        // CFA rsp+16 with rbp saved; remember; pop (rsp+8, rbp restored); ret; restore: rsp+16 again.
        let table = try compileFDE([advance1] + defCFAOffset(16) + [offsetRBP, 2, advance1, rememberState]
                                   + defCFAOffset(8) + [restoreRBP, advance1, restoreState, advance1]
                                   + [0x2E, 0x10, 0x00]) // GNU_args_size 16, nop: no effect
        #expect(table.rows == [
            row(0x1000, .registerOffset(.rsp, offset: 8)),
            row(0x1001, .registerOffset(.rsp, offset: 16), .cfaOffset(-16)),
            row(0x1002, .registerOffset(.rsp, offset: 8)),
            row(0x1003, .registerOffset(.rsp, offset: 16), .cfaOffset(-16)),
            row(0x1040, .noInfo),
        ])
    }

    @Test func extendedAndSignedOperandForms() throws {
        // advance_loc2; offset_extended_sf rbp 2 (2 × -8: CFA-16); def_cfa_sf rsp -3 (-3 × -8: 24);
        // advance_loc4; same_value rbp; offset_extended rbp 3 (CFA-24).
        let table = try compileFDE([0x03] + le(UInt16(4)) + [0x11, 0x06] + sleb(2) + [0x12, 0x07] + sleb(-3)
                                   + [0x04] + le(UInt32(4)) + [0x08, 0x06] + [0x05, 0x06, 0x03])
        #expect(table.rows == [
            row(0x1000, .registerOffset(.rsp, offset: 8)),
            row(0x1004, .registerOffset(.rsp, offset: 24), .cfaOffset(-16)),
            row(0x1008, .registerOffset(.rsp, offset: 24), .cfaOffset(-24)),
            row(0x1040, .noInfo),
        ])
    }

    @Test func pltExpressionIsRecognizedOtherExpressionsAreUnsupported() throws {
        let plt: [UInt8] = [0x77, 0x08, 0x80, 0x00, 0x3F, 0x1A, 0x3B, 0x2A, 0x33, 0x24, 0x22]
        let realign: [UInt8] = [0x76, 0x78, 0x06] // DW_OP_breg6 -8; DW_OP_deref
        let table = try compileFDE([0x0F] + uleb(UInt64(plt.count)) + plt + [advance1, 0x0F] + uleb(UInt64(realign.count)) + realign
                                   + [advance1] + defCFAOffset(16))
        #expect(table.rows == [
            row(0x1000, .pltExpression(rspOffset: 8, threshold: 11)),
            row(0x1001, .unsupported),
            row(0x1040, .noInfo),
        ])
        #expect(table.statistics.unsupportedRows == [.cfaExpression: 2])
    }

    @Test func undefinedReturnAddressMarksTheEndOfTheStack() throws {
        let table = try compileFDE([advance1, 0x07, 0x10])
        #expect(table.rows == [row(0x1000, .registerOffset(.rsp, offset: 8)), row(0x1001, .endOfStack), row(0x1040, .noInfo)])
        #expect(table.statistics.endOfStackRows == 1)
    }

    @Test func rulesTheTableCannotFollowAreUnsupportedAndCounted() throws {
        // CFA in r10 (stack realignment), then RA not at CFA-8, then rbp kept in a register.
        let table = try compileFDE([0x0C, 0x0A, 0x00, advance1, 0x0C, 0x07, 0x08, 0x90, 0x02, advance1, 0x90, 0x01, 0x09, 0x06, 0x03,
                                    advance1, 0x14, 0x06, 0x01, advance1] + defCFAOffset(1 << 20))
        #expect(table.rows == [
            row(0x1000, .unsupported),
            row(0x1002, .registerOffset(.rsp, offset: 8), .undefined),
            row(0x1004, .unsupported),
            row(0x1040, .noInfo),
        ])
        #expect(table.statistics.unsupportedRows == [.cfaRegister: 1, .returnAddressRule: 1, .offsetOutOfRange: 1])
        #expect(table.statistics.framePointerNotRecoverableRows == 2)
    }

    @Test func gapsOverlapsAndDiscardedEntries() throws {
        var builder = CFIBuilder(.ehFrame)
        let cie = builder.cie()
        builder.fde(cie: cie, start: 0x1000, length: 0x10, instructions: [advance1] + defCFAOffset(16))
        builder.fde(cie: cie, start: 0x1020, length: 0x10, instructions: [])
        builder.fde(cie: cie, start: 0x1028, length: 0x10, instructions: []) // overlaps the previous one
        builder.fde(cie: cie, start: 0x1030, length: 0x10, instructions: [])   // adjacent, same rules: merged
        builder.fde(cie: cie, start: 0x1050, length: 0, instructions: [])      // empty: discarded
        let table = try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes))
        #expect(table.rows == [
            row(0x1000, .registerOffset(.rsp, offset: 8)),
            row(0x1001, .registerOffset(.rsp, offset: 16)),
            row(0x1010, .noInfo),
            row(0x1020, .registerOffset(.rsp, offset: 8)),
            row(0x1040, .noInfo),
        ])
        #expect(table.statistics.ehFrameFDEs == 4)
        #expect(table.statistics.overlappingFDEs == 1)
        #expect(table.statistics.discardedFDEs == 1)
    }

    @Test func augmentationsAndPointerEncodings() throws {
        var builder = CFIBuilder(.ehFrame)
        // "zPLR": personality (indirect pc-relative sdata4), LSDA encoding, FDE encoding; FDEs carry a 4-byte LSDA.
        let personality = builder.cie(augmentation: "zPLR", augmentationData: [0x9B] + le(UInt32(0x100)) + [0x1B, 0x1B])
        builder.fde(cie: personality, start: 0x1000, length: 0x10, instructions: [advance1] + defCFAOffset(16),
                    augmentationData: le(UInt32(0x1234)))
        // "zR" with absolute udata4 and absptr addresses; "zS" (signal frame, absptr by default).
        let udata4 = builder.cie(augmentationData: [0x03])
        builder.fde(cie: udata4, start: 0x1010, length: 0x10, instructions: [advance1] + defCFAOffset(24), encoding: 0x03)
        let absolute = builder.cie(augmentationData: [0x00])
        builder.fde(cie: absolute, start: 0x1020, length: 0x10, instructions: [advance1] + defCFAOffset(32), encoding: 0x00)
        let signal = builder.cie(version: 3, augmentation: "zS", augmentationData: [])
        builder.fde(cie: signal, start: 0x1030, length: 0x10, instructions: [advance1] + defCFAOffset(40), encoding: 0x00)
        let table = try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes))
        for (start, offset) in [(UInt64(0x1000), Int32(16)), (0x1010, 24), (0x1020, 32), (0x1030, 40)] {
            #expect(table.lookup(address: start) == row(start, .registerOffset(.rsp, offset: 8)))
            #expect(table.lookup(address: start + 5) == row(start + 1, .registerOffset(.rsp, offset: offset)))
        }
    }

    @Test(arguments: [(UInt8(1), false), (3, false), (4, false), (4, true)])
    func debugFrameVersionsAndFormats(version: UInt8, dwarf64: Bool) throws {
        var builder = CFIBuilder(.debugFrame)
        let cie = builder.cie(version: version, dwarf64: dwarf64)
        builder.fde(cie: cie, start: 0x4000, length: 0x20, instructions: [advance1] + defCFAOffset(16), dwarf64: dwarf64)
        let table = try UnwindTable.compile(elfBytes: makeELF(debugFrame: builder.bytes))
        #expect(table.rows == [
            row(0x4000, .registerOffset(.rsp, offset: 8)),
            row(0x4001, .registerOffset(.rsp, offset: 16)),
            row(0x4020, .noInfo),
        ])
        #expect(table.statistics.debugFrameFDEs == 1)
    }

    @Test func ehFrameWinsOverDebugFrameForTheSameFunction() throws {
        var eh = CFIBuilder(.ehFrame)
        eh.fde(cie: eh.cie(), start: 0x1000, length: 0x10, instructions: [advance1] + defCFAOffset(16))
        var debug = CFIBuilder(.debugFrame)
        let cie = debug.cie()
        debug.fde(cie: cie, start: 0x1000, length: 0x10, instructions: [advance1] + defCFAOffset(48))
        debug.fde(cie: cie, start: 0x2000, length: 0x10, instructions: [])
        let table = try UnwindTable.compile(elfBytes: makeELF(ehFrame: eh.bytes, debugFrame: debug.bytes))
        #expect(table.lookup(address: 0x1001)?.cfa == .registerOffset(.rsp, offset: 16))
        #expect(table.lookup(address: 0x2000)?.cfa == .registerOffset(.rsp, offset: 8))
        #expect(table.statistics.overlappingFDEs == 1)
    }

    // MARK: Malformed programs and entries

    @Test func restoreStateWithoutRememberIsAnError() throws {
        var builder = CFIBuilder(.ehFrame)
        let cie = builder.cie()
        let fde = builder.fde(cie: cie, start: 0x1000, length: 0x40, instructions: [advance1, restoreState])
        let error = try #require(throws: UnwindTableError.self) { try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes)) }
        #expect(error.kind == .restoreStateWithoutRemember)
        #expect(error.section == ".eh_frame")
        #expect(error.offset == fde + 4 + 4 + 8 + 1 + 1) // length, CIE pointer, addresses, augmentation length, advance
    }

    @Test func malformedEntriesGiveTypedErrors() throws {
        func compileError(_ build: (inout CFIBuilder) -> Void) throws -> UnwindTableError.Kind {
            var builder = CFIBuilder(.ehFrame)
            build(&builder)
            return try #require(throws: UnwindTableError.self) { try UnwindTable.compile(elfBytes: makeELF(ehFrame: builder.bytes)) }.kind
        }
        #expect(try compileError { $0.fde(cie: $0.cie(), start: 0x1000, length: 4, instructions: [0x3F]) } == .unknownCFAInstruction(0x3F))
        #expect(try compileError { $0.fde(cie: $0.cie(version: 2), start: 0x1000, length: 4, instructions: []) } == .unsupportedCIEVersion(2))
        #expect(try compileError { $0.fde(cie: $0.cie(augmentation: "eh"), start: 0x1000, length: 4, instructions: []) } == .unsupportedAugmentation("eh"))
        #expect(try compileError { $0.fde(cie: $0.cie(augmentationData: [0x0F]), start: 0x1000, length: 4, instructions: []) } == .unsupportedPointerEncoding(0x0F))
        #expect(try compileError { builder in
            let cie = builder.cie()
            builder.fde(cie: cie + 1, start: 0x1000, length: 4, instructions: [])
        } == .badCIEPointer(target: 1))
        #expect(try compileError { $0.fde(cie: $0.cie(), start: 0x1000, length: 4, instructions: [0x0A, 0x0A] + [UInt8](repeating: 0x0A, count: 64)) } == .stateStackTooDeep(limit: 64))
        #expect(try compileError { $0.cie(instructions: [0x41]) ; $0.fde(cie: 0, start: 0x1000, length: 4, instructions: []) } == .misplacedInstruction(0x40))
        #expect(try compileError { $0.bytes = le(UInt32(100)) + [0, 0, 0, 0] } == .entryLengthOutOfBounds(length: 100))
        // A 64-bit FDE whose CIE pointer would overflow the subtraction.
        #expect(try compileError { $0.bytes = le(UInt32.max) + le(UInt64(8)) + le(UInt64(1) << 63) } == .badCIEPointer(target: Int64.min))
        #expect(throws: UnwindTableError(.noUnwindInformation, section: "section headers", offset: 0)) {
            try UnwindTable.compile(elfBytes: makeELF())
        }
    }
}
