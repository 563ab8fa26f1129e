import CPythonLayouts
import Testing

/// The generated table's shape: the promises bpf/tandem_cpython.h makes about it.
@Suite struct LayoutTableTests {
    @Test func versionsInIndexOrder() {
        #expect(CPythonLayout.supported.map(\.version.description) == ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
        #expect(CPythonLayout.index(of: CPythonVersion(major: 3, minor: 11)) == 3)
        #expect(CPythonLayout.layout(for: CPythonVersion(major: 3, minor: 7)) == nil)
        #expect(CPythonLayout.layout(for: CPythonVersion(major: 3, minor: 14)) == nil)
        #expect(CPythonVersion(major: 3, minor: 11).packed == 0x030B)
    }

    @Test func fieldsPresentWhereTheVersionHasThem() {
        for layout in CPythonLayout.supported {
            let minor = layout.version.minor
            #expect((layout.cframeCurrentFrame != CPythonLayout.absent) == (minor == 11 || minor == 12))
            #expect((layout.frameOwner != CPythonLayout.absent) == (minor >= 11))
            #expect((layout.frameIsEntry != CPythonLayout.absent) == (minor == 11))
            #expect((layout.codeQualifiedName != CPythonLayout.absent) == (minor >= 11))
            #expect((layout.codeInstructions != CPythonLayout.absent) == (minor >= 11))
            #expect((layout.ownerCStack != CPythonLayout.absentOwner) == (minor >= 12))
            #expect(layout.instructionKind == (minor <= 9 ? .lastInstructionBytes : minor == 10 ? .lastInstructionUnits : .instructionPointer))
            #expect(layout.entryKind == (minor <= 10 ? .everyFrame : minor == 11 ? .isEntry : .cStackShim))
        }
    }

    /// Every code field the walker or the parser reads lies in the copied header.
    @Test func codeHeaderHoldsEveryCodeField() {
        for layout in CPythonLayout.supported {
            #expect(layout.codeHeaderBytes <= 256 && layout.codeHeaderBytes % 8 == 0)
            for (offset, size) in [(layout.codeFirstLine, 4), (layout.codeFlags, 4), (layout.codeName, 8),
                                   (layout.codeQualifiedName, 8), (layout.codeFileName, 8), (layout.codeLineTable, 8),
                                   (layout.codeInstructions, 1)] where offset != CPythonLayout.absent {
                #expect(Int(offset) + size <= Int(layout.codeHeaderBytes), "\(layout.version)")
            }
        }
    }
}
