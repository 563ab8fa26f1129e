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
        let merged = CPythonFrameMerge.merge(functions, entries: [true, false, false, true], into: nativeFrames,
                                             userStart: 0, at: PHPFrameMerge.executorLoops)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "Calc::square", "execute_ex", "zend_call_function", "zif_array_map", "array_map", "descend", "{main}",
            "execute_ex", "zend_execute", "php_execute_script", "main",
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
