import CPythonLayouts
import CPythonSymbolization
import Testing
@testable import Symbolization

/// The code objects a stream makes the aggregator keep are bounded by count and by bytes:
/// a hostile process can give every code object a line table as long as the walker copies.
@Suite struct CPythonCodeTableTests {
    static func code(ranges: Int, name: String = "f") -> CPythonCode {
        CPythonCode(name: CPythonString(text: name, isCut: false), fileName: CPythonString(text: "/w.py", isCut: false),
                    firstLine: 1,
                    lineTable: CPythonLineTable(ranges: (0..<ranges).map { .init(start: $0 * 2, end: $0 * 2 + 2, line: $0) },
                                                instructionKind: .instructionPointer),
                    lineTableIsCut: false)
    }

    @Test func theCountBoundsSmallCodeObjects() {
        var table = CPythonCodeTable()
        for index in 0..<10 {
            let stored = table.insert(Self.code(ranges: 1), pid: 1, key: CPythonCodeKey(code: UInt64(index), fingerprint: 0), limit: 4)
            #expect(stored == (index < 4))
        }
        #expect(table.count == 4)
        // The same key again replaces, within the bound.
        let replaced = table.insert(Self.code(ranges: 1, name: "g"), pid: 1, key: CPythonCodeKey(code: 0, fingerprint: 0), limit: 4)
        #expect(replaced)
        #expect(table.code(pid: 1, CPythonCodeKey(code: 0, fingerprint: 0))?.name.text == "g")
    }

    @Test func theBytesBoundLongLineTables() {
        var table = CPythonCodeTable()
        // 4 objects allowed: 4 KiB in all; each of these takes about 3 KiB.
        let long = Self.code(ranges: 100)
        #expect(CPythonCodeTable.size(of: long) > 2 * CPythonCodeTable.bytesPerCode)
        let first = table.insert(long, pid: 1, key: CPythonCodeKey(code: 1, fingerprint: 0), limit: 4)
        let second = table.insert(long, pid: 1, key: CPythonCodeKey(code: 2, fingerprint: 0), limit: 4)
        #expect(first && !second)
        #expect(table.count == 1 && table.bytes <= 4 * CPythonCodeTable.bytesPerCode)
        // An exit gives the room back.
        table.remove(pid: 1)
        #expect(table.count == 0 && table.bytes == 0)
        let afterExit = table.insert(long, pid: 2, key: CPythonCodeKey(code: 2, fingerprint: 0), limit: 4)
        #expect(afterExit)
    }
}
