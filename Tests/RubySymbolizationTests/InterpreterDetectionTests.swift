import ELF
import Foundation
import RubyLayouts
import RubySymbolization
import Testing

/// Detection against the libruby installed here (Debian's ruby 3.1; skipped where absent).
@Suite struct InterpreterDetectionTests {
    static let library = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: library)))
    func findsTheTLSModuleSlotAndVersionOfDebiansLibruby() throws {
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.library))), name: Self.library)
        guard case .interpreter(let interpreter) = try RubyInterpreter.detect(in: elf) else {
            Issue.record("libruby-3.1 not detected")
            return
        }
        #expect(interpreter.version == RubyVersion(major: 3, minor: 1))
        #expect(interpreter.layout.version == interpreter.version)
        // readelf -rW: R_X86_64_DTPMOD64 ruby_current_ec at 0x3aea48; readelf -Ws: ruby_current_ec TLS value 8.
        #expect(interpreter.moduleSlotAddress == 0x3aea48)
        #expect(interpreter.tlsOffset == 8)
    }

    @Test func aFileWithoutRubyIsNotRuby() throws {
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/true"))), name: "/bin/true")
        #expect(try RubyInterpreter.detect(in: elf) == .notRuby)
    }
}
