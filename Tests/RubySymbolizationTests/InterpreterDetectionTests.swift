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

    /// ruby_global_symbols, not exported, from rb_sym_immortal_count's `mov disp32(%rip),%eax; ret`:
    /// objdump -d shows `mov 0x1a5eea(%rip),%eax # 3af1c0` at 0x2092d0, and gdb on a running ruby
    /// reads rb_sym_immortal_count()'s value at that address plus the load bias (docs/ruby.md).
    /// The same address is where symbol.c's get_id_serial_entry compares last_id (0x206c49)
    /// and loads ids at +16 (0x206c51): the table's first and third members.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: library)))
    func findsTheSymbolTableOfDebiansLibruby() throws {
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.library))), name: Self.library)
        guard case .interpreter(let interpreter) = try RubyInterpreter.detect(in: elf) else {
            Issue.record("libruby-3.1 not detected")
            return
        }
        #expect(interpreter.globalSymbols == .success(0x3af1c0))
        // In .data: initialised with tNEXT_ID - 1 (238 in 3.1.2), then str_sym and ids (0 until Init_sym).
        let range = try #require(elf.fileRange(ofVirtualAddress: 0x3af1c0))
        let bytes = try elf.source.bytes(at: range.offset, count: 4, place: "last_id")
        #expect(bytes == [238, 0, 0, 0])
    }

    @Test func otherCodeOrATargetOutsideWritableDataIsRefusedWithAReason() throws {
        // mov 0x10(%rip),%eax; ret at 0x1000: the target is 0x1016.
        #expect(RubySymbolTable.lastIDLoadTarget([0x8B, 0x05, 0x10, 0, 0, 0, 0xC3], at: 0x1000) == 0x1016)
        // A negative displacement.
        #expect(RubySymbolTable.lastIDLoadTarget([0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF, 0xC3], at: 0x1000) == 0xFF6)
        // endbr64 first, or no ret after the load: not the function this decode knows.
        #expect(RubySymbolTable.lastIDLoadTarget([0xF3, 0x0F, 0x1E, 0xFA, 0x8B, 0x05, 0x10], at: 0x1000) == nil)
        #expect(RubySymbolTable.lastIDLoadTarget([0x8B, 0x05, 0x10, 0, 0, 0, 0x90], at: 0x1000) == nil)
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/true"))), name: "/bin/true")
        let layout = RubyLayout.supported[0]
        #expect(try RubySymbolTable.address(in: elf, function: nil, layout: layout) == .failure(.noFunction))
        // /bin/true's entry point holds other code.
        let entry = try #require(elf.programHeaders.first { $0.type == ELFFile.segmentLoad && $0.isExecutable })
        guard case .failure(.unexpectedCode) = try RubySymbolTable.address(in: elf, function: entry.virtualAddress, layout: layout) else {
            Issue.record("other code decoded")
            return
        }
    }

    @Test func aFileWithoutRubyIsNotRuby() throws {
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/true"))), name: "/bin/true")
        #expect(try RubyInterpreter.detect(in: elf) == .notRuby)
    }
}
