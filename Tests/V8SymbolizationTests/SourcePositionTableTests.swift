import Testing
import V8Symbolization

/// Tables built with an encoder written from V8's format description, then read back.
@Suite struct SourcePositionTableTests {
    struct Entry {
        var codeOffset: Int
        var scriptOffset: Int
        var isStatement = true
        var inliningID = 0
    }

    static func zigzagVLQ(_ value: Int64) -> [UInt8] {
        var bits = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(bits & 0x7F)
            bits >>= 7
            if bits != 0 { byte |= 0x80 }
            out.append(byte)
        } while bits != 0
        return out
    }

    static func encode(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        var code = -1
        var position: Int64 = 0
        for entry in entries {
            let delta = Int64(entry.codeOffset - code)
            out += zigzagVLQ(entry.isStatement ? delta : -delta - 1)
            let raw = Int64(entry.scriptOffset + 1) << 1 | Int64(entry.inliningID) << 31
            out += zigzagVLQ(raw - position)
            code = entry.codeOffset
            position = raw
        }
        return out
    }

    let entries = [
        Entry(codeOffset: 0, scriptOffset: 120),
        Entry(codeOffset: 7, scriptOffset: 131, isStatement: false),
        Entry(codeOffset: 7, scriptOffset: 140),
        Entry(codeOffset: 300, scriptOffset: 95, inliningID: 2),
        Entry(codeOffset: 5000, scriptOffset: 70000),
    ]

    @Test func findsTheLastEntryAtOrBeforeAnOffset() {
        let table = V8SourcePositionTable(bytes: Self.encode(entries))
        #expect(table.sourcePosition(atCodeOffset: 0)?.scriptOffset == 120)
        #expect(table.sourcePosition(atCodeOffset: 6)?.scriptOffset == 120)
        #expect(table.sourcePosition(atCodeOffset: 7)?.scriptOffset == 140)
        #expect(table.sourcePosition(atCodeOffset: 299)?.scriptOffset == 140)
        #expect(table.sourcePosition(atCodeOffset: 300)?.scriptOffset == 95)
        #expect(table.sourcePosition(atCodeOffset: 300)?.inliningID == 2)
        #expect(table.sourcePosition(atCodeOffset: 1_000_000)?.scriptOffset == 70000)
        #expect(table.sourcePosition(atCodeOffset: 1_000_000)?.inliningID == 0)
    }

    @Test func noEntryBeforeTheFirst() {
        let table = V8SourcePositionTable(bytes: Self.encode([Entry(codeOffset: 10, scriptOffset: 5)]))
        #expect(table.sourcePosition(atCodeOffset: 9) == nil)
        #expect(V8SourcePositionTable(bytes: []).sourcePosition(atCodeOffset: 0) == nil)
    }

    @Test func aCutCopyKeepsItsCompleteEntries() {
        let bytes = Self.encode(entries)
        let cut = V8SourcePositionTable(bytes: Array(bytes.dropLast()))
        #expect(cut.sourcePosition(atCodeOffset: 1_000_000)?.scriptOffset == 95)
    }

    @Test func hostileBytesEndTheWalk() {
        let endless = V8SourcePositionTable(bytes: [UInt8](repeating: 0xFF, count: 64))
        #expect(endless.sourcePosition(atCodeOffset: 100) == nil)
        let external = V8SourcePosition(raw: 1 | 77 << 1)
        #expect(external.isExternal)
        #expect(external.scriptOffset == nil)
        #expect(V8SourcePosition(raw: 0).scriptOffset == nil)
    }
}

@Suite struct LineEndsTests {
    @Test func linesOfOffsets() {
        // "ab\ncd\n\nef": newlines at 2, 5, 6; the last line ends at the source's length.
        let ends = V8LineEnds(ends: [2, 5, 6, 9])
        #expect(ends.line(ofScriptOffset: 0) == 1)
        #expect(ends.line(ofScriptOffset: 2) == 1)
        #expect(ends.line(ofScriptOffset: 3) == 2)
        #expect(ends.line(ofScriptOffset: 6) == 3)
        #expect(ends.line(ofScriptOffset: 7) == 4)
        #expect(ends.line(ofScriptOffset: 10) == nil)
        #expect(ends.line(ofScriptOffset: -1) == nil)
        #expect(V8LineEnds(ends: []).line(ofScriptOffset: 0) == nil)
    }

    @Test func decodesSmis() {
        func smi(_ value: Int32) -> [UInt8] {
            let word = UInt64(UInt32(bitPattern: value)) << 32
            return (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) }
        }
        #expect(V8LineEnds(fixedArrayData: smi(2) + smi(5) + smi(900_000))?.ends == [2, 5, 900_000])
        var pointer = smi(3)
        pointer[0] = 1
        #expect(V8LineEnds(fixedArrayData: pointer) == nil)
        // A partial element at the end of a cut copy is left out.
        #expect(V8LineEnds(fixedArrayData: smi(4) + [0, 0, 0])?.ends == [4])
    }

    @Test func countsEndsOfASourceAsV8() {
        // "ab\ncd\n\nef": newlines at 2, 5, 6; V8 adds the length (9) as the last end.
        #expect(V8LineEnds(source: Array("ab\ncd\n\nef".utf8)).ends == [2, 5, 6, 9])
        // A final newline still gets the length after it (an empty last line).
        #expect(V8LineEnds(source: Array("a\n".utf8)).ends == [1, 2])
        #expect(V8LineEnds(source: []).ends == [0])
        // \r\n is one terminator (at the \n); a lone \r, U+2028 and U+2029 are terminators too.
        #expect(V8LineEnds(source: Array("a\r\nb\rc\u{2028}d\u{2029}e".utf8)).ends == [2, 4, 6, 8, 10])
    }

    @Test func offsetsAreUTF16Units() {
        // é is 2 UTF-8 bytes and 1 UTF-16 unit; 😀 is 4 bytes and 2 units.
        let ends = V8LineEnds(source: Array("é😀\nx\n".utf8))
        #expect(ends.ends == [3, 5, 6])
        #expect(ends.line(ofScriptOffset: 2) == 1)
        #expect(ends.line(ofScriptOffset: 4) == 2)
        // Invalid UTF-8 becomes U+FFFD, one unit per invalid sequence, as Node decodes the file.
        let invalid = V8LineEnds(source: [0xff, 0xfe, 0x0a, 0xc3, 0x0a, 0x41])
        #expect(invalid.ends == [2, 4, 6])
        #expect(invalid.line(ofScriptOffset: 5) == 3)
    }

    @Test func positionsPastTheEndHaveNoLine() {
        let ends = V8LineEnds(source: Array("a\nb".utf8))
        #expect(ends.line(ofScriptOffset: 3) == 2)
        #expect(ends.line(ofScriptOffset: 4) == nil)
        #expect(ends.line(ofScriptOffset: Int(Int32.max)) == nil)
        #expect(ends.line(ofScriptOffset: -5) == nil)
    }

    @Test func aMillionLinesStayLinear() {
        let source = [UInt8](repeating: 0x0a, count: 1 << 20)
        let ends = V8LineEnds(source: source)
        #expect(ends.ends.count == (1 << 20) + 1)
        #expect(ends.line(ofScriptOffset: 1 << 19) == (1 << 19) + 1)
    }
}
