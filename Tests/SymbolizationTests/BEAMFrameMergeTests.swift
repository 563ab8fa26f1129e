import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// Erlang frames replace the native stack's JIT leaf (docs/beam.md): the walker's frames, read
/// from the Erlang process's own stack, stand for that frame and for what the native walk
/// guessed past it in JIT code; names come from function records, per process.
@Suite("BEAM frame merge")
struct BEAMFrameMergeTests {
    static func beam(_ name: String?, _ pc: UInt64) -> Frame { Frame(type: .beam, address: pc, functionName: name) }
    static let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_0000, functionName: "asm_sysvec_apic_timer_interrupt")

    static func record(_ codeInfo: UInt64, _ module: String, _ function: String, _ arity: UInt64, pid: Int32 = 7,
                       flags: UInt32 = 0, major: UInt32 = 13) -> BEAMFunctionRecord {
        BEAMFunctionRecord(pid: pid, codeInfo: codeInfo, module: 0x4b, function: 0x8b, arity: arity, ertsMajor: major,
                           flags: flags, moduleName: Array(module.utf8), functionName: Array(function.utf8))
    }

    @Test func theJITLeafAndItsGuessedCallersAreReplaced() {
        let erlang = [Self.beam("known_truth:alpha/2", 0x7000_0100), Self.beam("known_truth:measure/1", 0x7000_0200)]
        // Kernel frames, the JIT leaf, a JIT word the native walk guessed, then a native root.
        let frames = [Self.kernel, Self.beam(nil, 0x7000_0100), Self.beam(nil, 0x7000_0400),
                      Frame(type: .native, address: 0x5000, functionName: "process_main")]
        let merged = BEAMFrameMerge.merge(erlang, leafPC: 0x7000_0100, into: frames, userStart: 1)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "asm_sysvec_apic_timer_interrupt", "known_truth:alpha/2", "known_truth:measure/1", "process_main",
        ])
    }

    @Test func withoutTheLeafInTheNativeStackTheFramesGoFirst() {
        let erlang = [Self.beam("m:f/0", 0x7000_0100)]
        let frames = [Self.kernel, Frame(type: .native, address: 0x5000, functionName: "erts_schedule")]
        let merged = BEAMFrameMerge.merge(erlang, leafPC: 0x7000_0100, into: frames, userStart: 1)
        #expect(merged.map { $0.functionName ?? "?" } == ["asm_sysvec_apic_timer_interrupt", "m:f/0", "erts_schedule"])
        // A kernel frame at the same address is not the user leaf.
        let kernelOnly = [Frame(type: .kernel, address: 0x7000_0100, functionName: "k")]
        #expect(BEAMFrameMerge.merge(erlang, leafPC: 0x7000_0100, into: kernelOnly, userStart: 1).count == 2)
    }

    @Test func aCLeafKeepsItsCFramesWithTheErlangCallersRootwardOfThem() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.beamFunction(Self.record(0x1000, "cleaf_truth", "reverse", 2)))
        symbolizer.apply(.beamFunction(Self.record(0x2000, "cleaf_truth", "measure", 2)))
        // The anchor (the JIT return address the native walk ended at), then the Erlang frames.
        let walk = [BEAMFrame(codeInfo: BEAMFrame.anchorCodeInfo, pc: 0x7000_0900), BEAMFrame(codeInfo: 0x1000, pc: 0x1010),
                    BEAMFrame(codeInfo: 0x2000, pc: 0x2020)]
        // Kernel frame, two C frames, the JIT frame, and a word the native walk found past it.
        let frames = [Self.kernel, Frame(type: .native, address: 0x5100, functionName: "lists_reverse_2"),
                      Frame(type: .native, address: 0x5200, functionName: "beam_jit_call_bif"),
                      Self.beam(nil, 0x7000_0900), Frame(type: .native, address: 0x5000, functionName: "process_main")]
        let (merged, complete) = symbolizer.mergingBEAMFrames(walk, pid: 7, into: frames, userStart: 1)
        #expect(merged.map { $0.functionName ?? "?" } == [
            "asm_sysvec_apic_timer_interrupt", "lists_reverse_2", "beam_jit_call_bif", "cleaf_truth:reverse/2",
            "cleaf_truth:measure/2",
        ])
        #expect(complete)
        // Without a JIT frame in the native stack the Erlang frames go rootward of all of it.
        let native = Array(frames[..<3])
        #expect(symbolizer.mergingBEAMFrames(walk, pid: 7, into: native, userStart: 1).frames.count == 5)
    }

    @Test func aDirtySchedulersCLeafHasTheErlangCallersInPlaceOfTheThreadsStart() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.beamFunction(Self.record(0x1000, "cleaf_truth", "reverse", 2)))
        // A dirty scheduler's walk: the anchor has no JIT return address.
        let walk = [BEAMFrame(codeInfo: BEAMFrame.anchorCodeInfo, pc: 0), BEAMFrame(codeInfo: 0x1000, pc: 0x1010)]
        let frames = [Frame(type: .native, address: 0x5100, functionName: "erts_garbage_collect_nobump"),
                      Frame(type: .native, address: 0x5200, functionName: "erts_execute_dirty_system_task"),
                      Frame(type: .native, address: 0x5300, functionName: "erts_dirty_process_main"),
                      Frame(type: .native, address: 0x5400, functionName: "start_thread"),
                      Frame(type: .native, address: 0x5500, functionName: "clone3")]
        let merged = symbolizer.mergingBEAMFrames(walk, pid: 7, into: frames, userStart: 0).frames
        #expect(merged.map { $0.functionName ?? "?" } == [
            "erts_garbage_collect_nobump", "erts_execute_dirty_system_task", "erts_dirty_process_main",
            "cleaf_truth:reverse/2",
        ])
    }

    @Test func framesAreNamedFromFunctionRecordsPerProcess() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.beamFunction(Self.record(0x1000, "known_truth", "alpha", 2)))
        symbolizer.apply(.beamFunction(Self.record(0x2000, "Elixir.Enum", "map", 2)))
        let walk = [BEAMFrame(codeInfo: 0x1000, pc: 0x1010), BEAMFrame(codeInfo: 0x2000, pc: 0x2020),
                    BEAMFrame(codeInfo: 0x3000, pc: 0x3030), BEAMFrame(codeInfo: 0, pc: 0x4040)]
        let (frames, complete) = symbolizer.mergingBEAMFrames(walk, pid: 7, into: [Self.beam(nil, 0x1010)], userStart: 0)
        #expect(frames.map { $0.functionName ?? "?" } == ["known_truth:alpha/2", "Enum.map/2", "?", "?"])
        #expect(frames.allSatisfy { $0.type == .beam } && frames.map(\.address) == [0x1010, 0x2020, 0x3030, 0x4040])
        // 0x3000's record may still come: the stack is not cached.
        #expect(!complete)
        // Another process's frames at the same address are not named by this one's records.
        let other = symbolizer.mergingBEAMFrames([BEAMFrame(codeInfo: 0x1000, pc: 0x1010)], pid: 8, into: [], userStart: 0)
        #expect(other.frames.first?.functionName == nil)
        // A frame outside any function (code info 0) has nothing to wait for.
        #expect(symbolizer.mergingBEAMFrames([BEAMFrame(codeInfo: 0, pc: 0x4040)], pid: 7, into: [], userStart: 0).complete)
    }

    @Test func unusableRecordsAreCountedNotKept() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.beamFunction(Self.record(0x1000, "m", "f", 2, flags: 1)))
        symbolizer.apply(.beamFunction(Self.record(0x2000, "m", "f", 256)))
        symbolizer.apply(.beamFunction(Self.record(0x3000, "m", "f", 1, major: 99)))
        #expect(symbolizer.statistics.beamFunctionRecords == 3)
        #expect(symbolizer.statistics.beamFunctionRecordsMalformed == 3)
        let (frames, _) = symbolizer.mergingBEAMFrames([BEAMFrame(codeInfo: 0x1000, pc: 0x1010)], pid: 7, into: [], userStart: 0)
        #expect(frames.first?.functionName == nil)
    }

    @Test func theTableIsBoundedAndForgetsAProcess() {
        var options = SymbolizerOptions(debugDirectories: [])
        options.maximumBEAMFunctions = 2
        let symbolizer = Symbolizer(options: options, logger: testLogger())
        for index in 0..<3 { symbolizer.apply(.beamFunction(Self.record(0x1000 * UInt64(index + 1), "m", "f", 0))) }
        #expect(symbolizer.statistics.beamFunctionRecordsDropped == 1)
        var table = BEAMFunctionTable()
        let first = table.insert(BEAMFunctionEntry(name: "m:f/0"), pid: 1, codeInfo: 1, limit: 4)
        let second = table.insert(BEAMFunctionEntry(name: "m:g/0"), pid: 2, codeInfo: 1, limit: 4)
        #expect(first && second)
        // Bytes bound: a name as long as four average ones does not fit beside them.
        let long = table.insert(BEAMFunctionEntry(name: String(repeating: "a", count: 4 * BEAMFunctionTable.bytesPerFunction)), pid: 1, codeInfo: 2, limit: 4)
        #expect(!long)
        table.remove(pid: 1)
        #expect(table.count == 1 && table.function(pid: 2, codeInfo: 1)?.name == "m:g/0" && table.function(pid: 1, codeInfo: 1) == nil)
        table.removeAll()
        #expect(table.count == 0 && table.bytes == 0)
    }
}
