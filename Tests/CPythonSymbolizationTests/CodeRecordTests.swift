import CPythonLayouts
import CPythonSymbolization
import Testing

/// Code records of real code objects (Fixtures/code-3.X.json, from every supported
/// CPython): names, file, first line and the line of every instruction must be what the
/// interpreter itself says.
@Suite struct CodeRecordTests {
    @Test(arguments: CodeRecordFixture.names)
    func decodesEveryCodeObject(fixtureName: String) throws {
        let fixture = try CodeRecordFixture.load(fixtureName)
        let layout = try #require(fixture.layout, "no layout for \(fixture.version)")
        // dump_code.py copies as much as the walker would with this table.
        #expect(Int(layout.codeHeaderBytes) == fixture.codeHeaderBytes, "\(fixture.version)")
        #expect(Int(layout.unicodeCompactData) == fixture.unicodeCompactData, "\(fixture.version)")
        #expect(Int(layout.unicodeASCIIData) == fixture.unicodeASCIIData, "\(fixture.version)")
        #expect(fixture.codes.count >= 14)
        for expected in fixture.codes {
            let code = try expected.decode(with: layout)
            if expected.nameIsCut {
                #expect(code.name.isCut)
                #expect(!code.name.text.isEmpty && expected.name.hasPrefix(code.name.text), "\(code.name.text)")
            } else {
                #expect(code.name == CPythonString(text: expected.name, isCut: false))
            }
            #expect(code.fileName == CPythonString(text: expected.fileName, isCut: expected.fileNameIsCut))
            #expect(code.firstLine == expected.firstLine, "\(expected.name)")
            #expect(code.lineTableIsCut == expected.lineTableIsCut, "\(expected.name)")

            var mismatches: [String] = []
            var answered = 0
            var total = 0
            for range in expected.lines {
                let (start, end, line) = (range[0]!, range[1]!, range[2])
                for value in stride(from: start, to: end, by: fixture.instructionStep) {
                    let found = code.line(forInstruction: UInt32(value))
                    total += 1
                    if found != nil { answered += 1 }
                    // A cut table may not know the instructions past its copied part.
                    if found != line && !(expected.lineTableIsCut && found == nil) {
                        mismatches.append("\(value): \(found.map(String.init) ?? "nil") != \(line.map(String.init) ?? "nil")")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(fixture.version) \(expected.name): \(mismatches.prefix(10))")
            #expect(total > 0)
            #expect(expected.lineTableIsCut ? answered * 2 > total : true, "\(expected.name): \(answered) of \(total)")
            // A frame that has not started (f_lasti -1, or the walker's out-of-range marker, in 32 or 24 bits).
            #expect(code.line(forInstruction: 0xFFFF_FFFF) == nil)
            #expect(code.line(forInstruction: 0x00FF_FFFF) == nil)
        }
    }

    /// The fixtures hold each string kind and each cut the decoder must handle.
    @Test func fixturesCoverTheCases() throws {
        let fixture = try CodeRecordFixture.load("code-3.12.json")
        let names = fixture.codes.map(\.name)
        for name in ["größe", "関数の名前", "𠀀𠀁", "<lambda>", "counter", "Shape.area", "outer.<locals>.inner"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(fixture.codes.contains { $0.nameIsCut })
        #expect(fixture.codes.contains { $0.lineTableIsCut })
        #expect(fixture.codes.contains { $0.fileName.unicodeScalars.contains { $0.value > 0xFFFF } })
    }

    /// 3.8-3.10 have no co_qualname: the name is co_name.
    @Test func namesBeforeQualifiedNames() throws {
        let fixture = try CodeRecordFixture.load("code-3.10.json")
        let layout = try #require(fixture.layout)
        let inner = try #require(fixture.codes.first { $0.name == "inner" })
        #expect(try inner.decode(with: layout).name.text == "inner")
    }
}
