import PHPSymbolization
import Testing

/// Function records (untrusted copies) to names and files.
@Suite struct PHPFunctionTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func methodIsClassColonColonName() throws {
        let function = try PHPFunction(type: 2, flags: [], hasName: true, hasClass: true, lineStart: 26,
                                       name: Self.bytes("beta"), className: Self.bytes("Calc"),
                                       file: Self.bytes("/srv/known_truth.php"))
        #expect(function == PHPFunction(name: "Calc::beta", file: "/srv/known_truth.php", firstLine: 26, isInternal: false))
    }

    @Test func plainFunctionAndTopLevelCode() throws {
        let plain = try PHPFunction(type: 2, flags: [], hasName: true, hasClass: false, lineStart: 3,
                                    name: Self.bytes("alpha"), className: [], file: Self.bytes("a.php"))
        #expect(plain.name == "alpha")
        let main = try PHPFunction(type: 2, flags: [], hasName: false, hasClass: false, lineStart: 1,
                                   name: [], className: [], file: Self.bytes("a.php"))
        #expect(main.name == PHPFunction.topLevelName && main.file == "a.php")
        let eval = try PHPFunction(type: 4, flags: [], hasName: false, hasClass: false, lineStart: 1,
                                   name: [], className: [], file: Self.bytes("a.php(3) : eval()'d code"))
        #expect(eval.name == PHPFunction.topLevelName)
    }

    @Test func internalFunctionHasNoFileOrLine() throws {
        let function = try PHPFunction(type: 1, flags: [], hasName: true, hasClass: true, lineStart: 77,
                                       name: Self.bytes("format"), className: Self.bytes("DateTime"),
                                       file: Self.bytes("garbage"))
        #expect(function == PHPFunction(name: "DateTime::format", file: "", firstLine: 0, isInternal: true))
    }

    @Test func unreadableClassKeepsTheName() throws {
        let function = try PHPFunction(type: 2, flags: [.classUnreadable, .fileUnreadable], hasName: true, hasClass: true,
                                       lineStart: 5, name: Self.bytes("run"), className: Self.bytes("Ignored"),
                                       file: Self.bytes("ignored"))
        #expect(function.name == "run" && function.file.isEmpty)
    }

    @Test func hostileRecordsAreRefusedOrBounded() throws {
        #expect(throws: PHPFunctionError.nameUnreadable) {
            try PHPFunction(type: 2, flags: .nameUnreadable, hasName: true, hasClass: false, lineStart: 0,
                            name: [], className: [], file: [])
        }
        #expect(throws: PHPFunctionError.unknownType(3)) {
            try PHPFunction(type: 3, flags: [], hasName: true, hasClass: false, lineStart: 0, name: [], className: [], file: [])
        }
        // Invalid UTF-8 and over-long copies: replaced and cut, never trusted.
        let long = [UInt8](repeating: 0x41, count: 5000)
        let function = try PHPFunction(type: 2, flags: .nameCut, hasName: true, hasClass: true, lineStart: 0,
                                       name: long, className: [0xff, 0xfe], file: long)
        #expect(function.name.hasPrefix("\u{FFFD}\u{FFFD}::A"))
        #expect(function.file.utf8.count == PHPFunction.maximumTextBytes)
    }
}
