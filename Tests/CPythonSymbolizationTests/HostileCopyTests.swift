import CPythonLayouts
import CPythonSymbolization
import Testing

/// Copies from another process's memory can be anything: each must decode or fail with
/// a typed error, never trap.
@Suite struct HostileCopyTests {
    static let layout = CPythonLayout.layout(for: CPythonVersion(major: 3, minor: 12))!

    /// A 3.12 str header: state word and length, then `data` at its offset.
    static func str(state: UInt32, length: Int64, data: [UInt8] = [], compact: Bool = true) -> [UInt8] {
        var copy = [UInt8](repeating: 0, count: Int(compact && state & 0x40 == 0 ? layout.unicodeCompactData : layout.unicodeASCIIData))
        copy.replaceSubrange(Int(layout.unicodeLength)..<Int(layout.unicodeLength) + 8, with: withUnsafeBytes(of: length.littleEndian, Array.init))
        copy.replaceSubrange(Int(layout.unicodeState)..<Int(layout.unicodeState) + 4, with: withUnsafeBytes(of: state.littleEndian, Array.init))
        return copy + data
    }

    static let compactASCII: UInt32 = 1 << 2 | 1 << 5 | 1 << 6

    @Test func stringErrors() {
        #expect(throws: CPythonObjectError.self) { try CPythonString(copy: [], layout: Self.layout) }
        #expect(throws: CPythonObjectError.self) { try CPythonString(copy: [1, 2, 3], layout: Self.layout) }
        // Not compact, kind 3, ASCII of kind 2, negative and huge lengths, a non-ASCII byte in an ASCII str.
        for copy in [Self.str(state: 1 << 2, length: 1), Self.str(state: 3 << 2 | 1 << 5, length: 1),
                     Self.str(state: 2 << 2 | 1 << 5 | 1 << 6, length: 1), Self.str(state: Self.compactASCII, length: -1),
                     Self.str(state: Self.compactASCII, length: 1 << 40), Self.str(state: Self.compactASCII, length: .max),
                     Self.str(state: Self.compactASCII, length: 1, data: [0xE9])] {
            #expect(throws: CPythonObjectError.self) { try CPythonString(copy: copy, layout: Self.layout) }
        }
    }

    @Test func cutStringsKeepWhatWasCopied() throws {
        let cut = try CPythonString(copy: Self.str(state: Self.compactASCII, length: 1000, data: Array("abc".utf8)), layout: Self.layout)
        #expect(cut == CPythonString(text: "abc", isCut: true))
        // UCS-4 with half a character copied: the whole ones only.
        let ucs4 = try CPythonString(copy: Self.str(state: 4 << 2 | 1 << 5, length: 2, data: [0x00, 0x00, 0x02, 0x00, 0x01]),
                                     layout: Self.layout)
        #expect(ucs4 == CPythonString(text: "\u{20000}", isCut: true))
        // Header only.
        #expect(try CPythonString(copy: Self.str(state: Self.compactASCII, length: 5), layout: Self.layout)
            == CPythonString(text: "", isCut: true))
    }

    @Test func invalidCharactersBecomeReplacements() throws {
        let surrogate = try CPythonString(copy: Self.str(state: 2 << 2 | 1 << 5, length: 1, data: [0x00, 0xD8]), layout: Self.layout)
        #expect(surrogate.text == "\u{FFFD}")
        let beyond = try CPythonString(copy: Self.str(state: 4 << 2 | 1 << 5, length: 1, data: [0xFF, 0xFF, 0xFF, 0x7F]),
                                       layout: Self.layout)
        #expect(beyond.text == "\u{FFFD}")
    }

    @Test func bytesErrors() throws {
        func bytes(size: Int64, data: [UInt8] = []) -> [UInt8] {
            var copy = [UInt8](repeating: 0, count: Int(Self.layout.bytesData))
            copy.replaceSubrange(Int(Self.layout.bytesSize)..<Int(Self.layout.bytesSize) + 8, with: withUnsafeBytes(of: size.littleEndian, Array.init))
            return copy + data
        }
        #expect(throws: CPythonObjectError.self) { try CPythonBytes(copy: [0, 1], layout: Self.layout) }
        #expect(throws: CPythonObjectError.self) { try CPythonBytes(copy: bytes(size: -5), layout: Self.layout) }
        #expect(throws: CPythonObjectError.self) { try CPythonBytes(copy: bytes(size: .max), layout: Self.layout) }
        #expect(try CPythonBytes(copy: bytes(size: 4, data: [1, 2]), layout: Self.layout) == CPythonBytes(bytes: [1, 2], isCut: true))
    }

    @Test func codeWithAShortHeader() throws {
        #expect(throws: CPythonObjectError.self) {
            try CPythonCode(header: [UInt8](repeating: 0, count: 8), name: [], qualifiedName: [], file: [], lineTable: [],
                            layout: Self.layout)
        }
    }

    /// Every prefix of every real copy, for every version: a result consistent with the
    /// whole copy, or an error.
    @Test(arguments: CodeRecordFixture.names)
    func everyPrefixOfRealCopies(fixtureName: String) throws {
        let fixture = try CodeRecordFixture.load(fixtureName)
        let layout = try #require(fixture.layout)
        for expected in fixture.codes {
            for copy in [expected.bytes(expected.fileCopy), expected.bytes(expected.nameCopy)] {
                let whole = try CPythonString(copy: copy, layout: layout).text
                for length in 0..<copy.count {
                    if let part = try? CPythonString(copy: Array(copy[..<length]), layout: layout) {
                        #expect(part.isCut && whole.hasPrefix(part.text))
                    }
                }
            }
            let table = expected.bytes(expected.lineTableCopy)
            let whole = try CPythonBytes(copy: table, layout: layout)
            for length in stride(from: 0, to: table.count, by: 7) {
                guard let part = try? CPythonBytes(copy: Array(table[..<length]), layout: layout) else { continue }
                let lines = CPythonLineTable(bytes: part.bytes, isCut: true, firstLine: 1, layout: layout)
                let full = CPythonLineTable(bytes: whole.bytes, isCut: whole.isCut, firstLine: 1, layout: layout)
                for instruction in stride(from: UInt32(0), to: 400, by: 2) {
                    let found = lines.line(forInstruction: instruction)
                    #expect(found == nil || found == full.line(forInstruction: instruction))
                }
            }
        }
    }

    /// Random bytes as line tables of every format, and as str and code copies.
    @Test func garbage() throws {
        var generator = SplitMix64(seed: 0x7A4D_E11A)
        for round in 0..<3000 {
            let count = Int(generator.next() % 600)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let layout = CPythonLayout.supported[round % CPythonLayout.supported.count]
            let table = CPythonLineTable(bytes: bytes, isCut: round % 2 == 0, firstLine: Int(Int32.max), layout: layout)
            for _ in 0..<8 { _ = table.line(forInstruction: UInt32(truncatingIfNeeded: generator.next())) }
            _ = table.line(forInstruction: UInt32(generator.next() % 2048))
            _ = try? CPythonString(copy: bytes, layout: layout)
            _ = try? CPythonBytes(copy: bytes, layout: layout)
            _ = try? CPythonCode(header: bytes, name: bytes, qualifiedName: bytes, file: bytes, lineTable: bytes, layout: layout)
        }
        // Endless varint continuations in a location table's long form.
        let continuations = [UInt8(0x80 | 14 << 3)] + [UInt8](repeating: 0x7F, count: 500)
        let table = CPythonLineTable(bytes: continuations, isCut: true, firstLine: 1, layout: Self.layout)
        #expect(table.line(forInstruction: 0) == nil)
    }
}

/// A small deterministic generator, so that a failing garbage round can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
