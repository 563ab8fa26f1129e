import V8Symbolization
import WireFormat
import Profiles
@testable import Symbolization
import Testing

/// JavaScript frames take the place of the native frames with their pcs (docs/v8.md).
@Suite struct V8FrameMergeTests {
    func native(_ address: UInt64, _ name: String? = nil) -> Frame {
        Frame(type: .native, address: address, functionName: name, mappingPath: name == nil ? nil : "/usr/bin/node")
    }

    func js(_ pc: UInt64, _ names: String...) -> (pc: UInt64, frames: [Frame]) {
        (pc, names.map { Frame(type: .v8js, address: pc, functionName: $0, sourceFile: "/app/spin.js") })
    }

    @Test func replacesTheFramesWithTheirPcsAndKeepsNodesOwn() {
        let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_0000, functionName: "asm_sysvec_apic_timer_interrupt")
        let frames = [kernel, native(0x7f00_0000_0100), native(0x7f00_0000_0200), native(0x5555_0100, "Builtins_JSEntry"),
                      native(0x5555_0200, "node::Start"), native(0x5555_0300, "main")]
        let merged = V8FrameMerge.merge([js(0x7f00_0000_0100, "spin"), js(0x7f00_0000_0200, "fnAlpha")],
                                        into: frames, userStart: 1)
        #expect(merged.map(\.displayName) == [kernel.displayName, "spin", "fnAlpha", "Builtins_JSEntry", "node::Start", "main"])
        #expect(merged[1].type == .v8js && merged[2].type == .v8js)
    }

    @Test func aPerfMapNameGivesWay() {
        // node --perf-basic-prof: the native frame is named from the perf map, typed v8js already.
        let perf = Frame(type: .v8js, address: 0x7f00_0000_0100, functionName: "JS:*spin /app/spin.js:3:14",
                         mappingPath: "/tmp/perf-42.map")
        let merged = V8FrameMerge.merge([js(0x7f00_0000_0100, "spin")], into: [perf, native(0x5555_0300, "main")],
                                        userStart: 0)
        #expect(merged.map(\.displayName) == ["spin", "main"])
    }

    @Test func framesTheNativeWalkDidNotReachGoRootSideInOrder() {
        let frames = [native(0x7f00_0000_0100), native(0x5555_0200, "uv_run")]
        let merged = V8FrameMerge.merge([js(0x7f00_0000_0100, "spin"), js(0x7f00_0000_0900, "main"),
                                         js(0x7f00_0000_0a00, "outer")], into: frames, userStart: 0)
        #expect(merged.map(\.displayName) == ["spin", "main", "outer", "uv_run"])
    }

    @Test func anUnmatchedFrameStaysLeafSideOfTheNextMatch() {
        let frames = [native(0x7f00_0000_0100), native(0x5555_0150, "Builtins_InterpreterEntryTrampoline"),
                      native(0x7f00_0000_0300), native(0x5555_0300, "main")]
        let merged = V8FrameMerge.merge([js(0x7f00_0000_0100, "spin"), js(0x7f00_0000_0999, "lost"),
                                         js(0x7f00_0000_0300, "caller")], into: frames, userStart: 0)
        #expect(merged.map(\.displayName) == ["spin", "Builtins_InterpreterEntryTrampoline", "lost", "caller", "main"])
    }

    @Test func inlinedFunctionsTakeTheirCodesFrameTogetherInnermostFirst() {
        // main's TurboFan code inlined timed and fnAlpha, and spin into fnAlpha: one native frame.
        let frames = [native(0x7f00_0000_0100), native(0x5555_0150, "Builtins_AsyncFunctionAwaitResolveClosure"),
                      native(0x5555_0300, "uv_run")]
        let merged = V8FrameMerge.merge([js(0x7f00_0000_0100, "spin", "fnAlpha", "timed", "main")], into: frames,
                                        userStart: 0)
        #expect(merged.map(\.displayName) == ["spin", "fnAlpha", "timed", "main",
                                              "Builtins_AsyncFunctionAwaitResolveClosure", "uv_run"])
    }

    @Test func nothingToMerge() {
        let frames = [native(0x1), native(0x2)]
        #expect(V8FrameMerge.merge([], into: frames, userStart: 0) == frames)
        #expect(V8FrameMerge.merge([js(0x9, "x")], into: [], userStart: 0).map(\.displayName) == ["x"])
    }

    @Test func unnamedFramesKeepTheirPc() {
        let frame = V8Frame(pc: 0x7f00_0000_0100, sharedFunctionInfo: 0x3567_0009, fingerprint: 1, offset: 0,
                            kind: .compiled, codeKind: 13, flags: [])
        let (unnamed, complete) = Symbolizer.v8Frame(frame, function: nil)
        #expect(unnamed.type == .v8js && unnamed.address == 0x7f00_0000_0100 && unnamed.functionName == nil)
        #expect(!complete)
        let (named, _) = Symbolizer.v8Frame(frame, function: V8Function(name: "beta", scriptName: ""))
        #expect(named.functionName == "beta" && named.sourceFile == nil)
    }
}
