import PHPSymbolization
import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// PHP frames go into the native stack at the executor loop (docs/php.md): all user functions
/// called from PHP code share one `execute_ex`; one called from C (array_map's callback here)
/// runs in an `execute_ex` of its own.
@Suite("PHP frame merge")
struct PHPFrameMergeTests {
    static func native(_ name: String) -> Frame { Frame(type: .native, address: 0x1000, functionName: name) }
    static func php(_ name: String) -> Frame { Frame(type: .php, address: 0x2000, functionName: name, sourceFile: "x.php") }

    @Test func functionsGoBeforeTheirExecutorLoop() {
        // Leaf first: the callback runs in a nested executor called by zend_call_function from array_map.
        let nativeFrames = ["execute_ex", "zend_call_function", "zif_array_map", "execute_ex", "zend_execute",
                            "php_execute_script", "main"].map(Self.native)
        let functions = ["Calc::square", "array_map", "descend", "{main}"].map(Self.php)
        // square was called from C (entry); {main}, the outermost, began the first executor loop.
        let merged = PHPFrameMerge.merge(functions, entries: [true, false, false, true], into: nativeFrames, userStart: 0)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "Calc::square", "execute_ex", "zend_call_function", "zif_array_map", "array_map", "descend", "{main}",
            "execute_ex", "zend_execute", "php_execute_script", "main",
        ])
    }

    /// A frame of opcache's JIT buffer, in its shared memory, as the symbolizer leaves it.
    static let jitCode = Frame(type: .native, address: 0x5591_e940_0a8a, mappingPath: "/dev/zero (deleted)", fileOffset: 0x8000a8a)

    @Test func jitCodeIsOpcacheSharedMemoryOrAnonymous() {
        #expect(PHPFrameMerge.isJITCode(Self.jitCode))
        #expect(PHPFrameMerge.isJITCode(Frame(type: .native, address: 0x7000)))
        #expect(PHPFrameMerge.isJITCode(Frame(type: .native, address: 0x7000, mappingPath: "/SYSV00000000 (deleted)")))
        // A file's frame without its symbols yet, a named frame, a kernel frame: not JIT code.
        #expect(!PHPFrameMerge.isJITCode(Frame(type: .native, address: 0x7000, mappingPath: "/usr/bin/php8.2", fileOffset: 0x10)))
        #expect(!PHPFrameMerge.isJITCode(Self.native("zend_jit_fast_assign_concat_helper")))
        #expect(!PHPFrameMerge.isJITCode(Frame(type: .kernel, address: 0xffff_ffff_8100_0000)))
    }

    @Test func jitFramesGiveWayToTheirPHPFrames() {
        let functions = ["getrusage", "nanoseconds", "descend", "{main}"].map(Self.php)
        let entries = [false, false, false, true]
        // The native walk stopped at the JIT code (no unwind table): the PHP frames take its place, not the root end.
        let stopped = PHPFrameMerge.merge(functions, entries: entries, into: [Self.native("zif_getrusage"), Self.jitCode],
                                          userStart: 0)
        #expect(stopped.map { $0.functionName ?? "?" } == ["zif_getrusage", "getrusage", "nanoseconds", "descend", "{main}"])
        // A leaf in JIT code: the leaf is a PHP frame.
        let leaf = PHPFrameMerge.merge(["alpha", "{main}"].map(Self.php), entries: [false, true], into: [Self.jitCode], userStart: 0)
        #expect(leaf.map { $0.functionName ?? "?" } == ["alpha", "{main}"])
        // The walk reached the execute_ex the JIT code ran in: its PHP frames are placed once, at the JIT frame.
        let reached = PHPFrameMerge.merge(functions, entries: entries,
                                          into: [Self.native("zif_getrusage"), Self.jitCode, Self.native("execute_ex"),
                                                 Self.native("zend_execute"), Self.native("main")], userStart: 0)
        #expect(reached.map { $0.functionName ?? "?" } == [
            "zif_getrusage", "getrusage", "nanoseconds", "descend", "{main}", "execute_ex", "zend_execute", "main",
        ])
    }

    @Test func framesAreNamedFromFunctionRecords() {
        let frame = PHPFrame(function: 0x2000, fingerprint: 9, line: 17, flags: [])
        let beta = PHPFunction(name: "Calc::beta", file: "/w/x.php", firstLine: 12, isInternal: false)
        let (named, complete) = Symbolizer.phpFrame(frame, function: beta)
        #expect(complete)
        #expect(named.type == .php && named.functionName == "Calc::beta" && named.sourceFile == "/w/x.php" && named.sourceLine == 17)
        // No saved line: the function's first line.
        let (first, _) = Symbolizer.phpFrame(PHPFrame(function: 0x2000, fingerprint: 9, line: 0, flags: []), function: beta)
        #expect(first.sourceLine == 12)
        // Before its record: named by address, and not cached (the record may still come).
        let (unnamed, final) = Symbolizer.phpFrame(frame, function: nil)
        #expect(unnamed.functionName == nil && !final)
        let (unreadable, done) = Symbolizer.phpFrame(PHPFrame(function: 0x2000, fingerprint: 0, line: 0, flags: .unreadable),
                                                     function: nil)
        #expect(unreadable.functionName == nil && done)
        let strlen = PHPFunction(name: "strlen", file: "", firstLine: 0, isInternal: true)
        let (internalFrame, _) = Symbolizer.phpFrame(PHPFrame(function: 0x3000, fingerprint: 1, line: 0, flags: .internal),
                                                     function: strlen)
        #expect(internalFrame.functionName == "strlen" && internalFrame.sourceFile == nil && internalFrame.sourceLine == 0)
    }
}
