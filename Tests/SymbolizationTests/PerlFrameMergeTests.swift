import Profiles
import PerlSymbolization
import Testing
import WireFormat
@testable import Symbolization

/// Perl frames go into the native stack at the run loop (docs/perl.md): all subs called from
/// Perl code share one `Perl_runops_standard`; a sub called from C (sort's comparator here)
/// runs in a run loop of its own.
@Suite("Perl frame merge")
struct PerlFrameMergeTests {
    static func native(_ name: String) -> Frame { Frame(type: .native, address: 0x1000, functionName: name) }
    static func perl(_ name: String) -> Frame { Frame(type: .perl, address: 0x2000, functionName: name, sourceFile: "x.pl") }

    @Test func subsGoBeforeTheirRunLoop() {
        // Leaf first: the comparator runs in a nested run loop called from pp_sort.
        let nativeFrames = ["Perl_pp_multiply", "Perl_runops_standard", "Perl_sortsv_flags", "Perl_pp_sort",
                            "Perl_runops_standard", "perl_run", "main"].map(Self.native)
        let subs = ["main::by_value", "main::sorter", "main::outer", "main"].map(Self.perl)
        // by_value was called from C (entry); main, the outermost, ends the main run loop.
        let merged = CPythonFrameMerge.merge(subs, entries: [true, false, false, true], into: nativeFrames, userStart: 0,
                                             at: PerlFrameMerge.runLoops)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "Perl_pp_multiply", "main::by_value", "Perl_runops_standard", "Perl_sortsv_flags", "Perl_pp_sort",
            "main::sorter", "main::outer", "main", "Perl_runops_standard", "perl_run", "main",
        ])
    }

    @Test func framesLeftGoAtTheRoot() {
        // A native walk cut before the run loop: the Perl frames are kept, at the root end.
        let merged = CPythonFrameMerge.merge([Self.perl("main::alpha")], entries: [true],
                                             into: [Self.native("Perl_pp_add")], userStart: 0, at: PerlFrameMerge.runLoops)
        #expect(merged.map { $0.functionName ?? "?" } == ["Perl_pp_add", "main::alpha"])
    }

    @Test func framesAreNamedFromSubRecords() {
        let frame = PerlFrame(address: 0x2000, fingerprint: 9, line: 17, flags: [])
        let (named, complete) = Symbolizer.perlFrame(frame, sub: PerlSub(name: "Calc::beta", file: "/w/x.pl"))
        #expect(complete)
        #expect(named.type == .perl && named.functionName == "Calc::beta" && named.sourceFile == "/w/x.pl" && named.sourceLine == 17)
        // Before its record: named by address, and not cached (the record may still come).
        let (unnamed, final) = Symbolizer.perlFrame(frame, sub: nil)
        #expect(unnamed.functionName == nil && !final)
        let (eval, _) = Symbolizer.perlFrame(PerlFrame(address: 0, fingerprint: 0, line: 3, flags: [.eval]), sub: nil)
        #expect(eval.functionName == "(eval)")
    }
}
