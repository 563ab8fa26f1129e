@testable import BEAMSymbolization
import Testing

/// Function records are untrusted bytes: names, arities and flags as a hostile stream may send them.
@Suite struct BEAMFunctionTests {
    @Test func erlangAndElixirNames() throws {
        let erlang = try BEAMFunction(flags: [], arity: 2, module: Array("known_truth".utf8), function: Array("alpha".utf8))
        #expect(erlang.name == "known_truth:alpha/2")
        let elixir = try BEAMFunction(flags: [], arity: 3, module: Array("Elixir.Enum".utf8), function: Array("reduce".utf8))
        #expect(elixir.name == "Enum.reduce/3")
        // Just the prefix is an Erlang atom like any other.
        #expect(BEAMFunction(module: "Elixir.", function: "f", arity: 0).name == "Elixir.:f/0")
        let fun = try BEAMFunction(flags: [], arity: 1, module: Array("lists".utf8), function: Array("-map/2-fun-0-".utf8))
        #expect(fun.name == "lists:-map/2-fun-0-/1")
    }

    @Test func unreadableNamesAreRefused() {
        #expect(throws: BEAMFunctionError.nameUnreadable) {
            try BEAMFunction(flags: .moduleUnreadable, arity: 0, module: [], function: Array("f".utf8))
        }
        #expect(throws: BEAMFunctionError.nameUnreadable) {
            try BEAMFunction(flags: .nameUnreadable, arity: 0, module: Array("m".utf8), function: [])
        }
    }

    @Test func hostileArityAndLengths() {
        #expect(throws: BEAMFunctionError.arityOutOfRange(256)) {
            try BEAMFunction(flags: [], arity: 256, module: Array("m".utf8), function: Array("f".utf8))
        }
        #expect(throws: BEAMFunctionError.arityOutOfRange(.max)) {
            try BEAMFunction(flags: [], arity: .max, module: Array("m".utf8), function: Array("f".utf8))
        }
        #expect(throws: BEAMFunctionError.nameTooLong(1021)) {
            try BEAMFunction(flags: [], arity: 0, module: [UInt8](repeating: 0x61, count: 1021), function: Array("f".utf8))
        }
    }

    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        let function = try BEAMFunction(flags: [], arity: 0, module: [0x6D, 0xFF], function: Array("f".utf8))
        #expect(function.module == "m\u{FFFD}")
    }
}
