import Profiles
import RubyLayouts
import RubySymbolization
import Testing
import WireFormat
@testable import Symbolization

/// Ruby frames merged into the native stack at `rb_vm_exec`, named from iseq records, and the
/// bound on the iseqs a stream makes the aggregator keep.
@Suite struct RubyFrameTests {
    static func native(_ name: String?, _ address: UInt64) -> Frame {
        Frame(type: .native, address: address, functionName: name, mappingPath: "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1")
    }

    static func ruby(_ label: String, line: UInt32) -> Frame {
        Frame(type: .ruby, address: 0x7f10_0000_0000, functionName: label, sourceFile: "/app/known_truth.rb", sourceLine: line)
    }

    /// The native stack gdb shows for known_truth.rb (leaf first): the exec loop (static, unnamed),
    /// rb_vm_exec of the loop's block, Kernel#loop's C code, rb_vm_exec of <main>, ruby_run_node.
    static let nativeFrames = [
        native(nil, 0x7f78_c7c5_14ec), native("rb_vm_exec", 0x7f78_c7c5_3113), native(nil, 0x7f78_c7c5_6581),
        native("rb_rescue2", 0x7f78_c7ab_964a), native(nil, 0x7f78_c7c4_ec9b), native("rb_vm_exec", 0x7f78_c7c5_3113),
        native("ruby_run_node", 0x7f78_c7ab_ba15), native("main", 0x55f9_911e_a10b),
    ]

    @Test func eachExecCallGetsTheRubyFramesItRan() {
        let walked = [Self.ruby("alpha", line: 19), Self.ruby("descend", line: 58), Self.ruby("block in <main>", line: 82), Self.ruby("<main>", line: 81)]
        let merged = RubyFrameMerge.merge(walked, entries: [false, false, true, true], into: Self.nativeFrames, userStart: 0)
        // Leaf first: the Ruby frames sit above the unnamed exec loop each rb_vm_exec called, so
        // a sample in the loop has a Ruby leaf.
        #expect(merged.map { $0.functionName ?? "?" } == [
            "alpha", "descend", "block in <main>", "?", "rb_vm_exec", "?", "rb_rescue2", "<main>", "?", "rb_vm_exec",
            "ruby_run_node", "main",
        ])
    }

    @Test func aNamedHelperAboveRbVmExecIsNotTheLoop() {
        let natives = [Self.native("vm_call_cfunc_with_frame", 0x1000), Self.native("rb_vm_exec", 0x2000), Self.native("main", 0x3000)]
        let merged = RubyFrameMerge.merge([Self.ruby("alpha", line: 19)], entries: [true], into: natives, userStart: 0)
        #expect(merged.map { $0.functionName ?? "?" } == ["vm_call_cfunc_with_frame", "alpha", "rb_vm_exec", "main"])
        let symbolized = [Self.native("vm_exec_core", 0x1000), Self.native("rb_vm_exec", 0x2000)]
        #expect(RubyFrameMerge.merge([Self.ruby("alpha", line: 19)], entries: [true], into: symbolized, userStart: 0)
            .map { $0.functionName ?? "?" } == ["alpha", "vm_exec_core", "rb_vm_exec"])
    }

    @Test func framesLeftWhenTheNativeWalkEndsGoAtTheRoot() {
        let walked = [Self.ruby("alpha", line: 19), Self.ruby("<main>", line: 81)]
        let cut = Array(Self.nativeFrames.prefix(1))
        let merged = RubyFrameMerge.merge(walked, entries: [true, true], into: cut, userStart: 0)
        #expect(merged.map { $0.functionName ?? "?" } == ["?", "alpha", "<main>"])
        // The kernel's frames stay ahead of everything.
        let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_0000, functionName: "asm_sysvec_apic_timer_interrupt")
        let withKernel = RubyFrameMerge.merge(walked, entries: [true, true], into: [kernel] + Self.nativeFrames.prefix(2), userStart: 1)
        #expect(withKernel.map { $0.functionName ?? "?" } == ["asm_sysvec_apic_timer_interrupt", "alpha", "?", "rb_vm_exec", "<main>"])
    }

    @Test func aFrameIsNamedByItsISeqAndLine() throws {
        let iseq = RubyISeq(label: "beta", path: "/app/known_truth.rb", firstLine: 26,
                            lineTable: RubyLineTable(lines: [27, 30], succinctTable: [1] + Array(repeating: 0, count: 47), entryCount: 2))
        let frame = RubyFrame(iseq: 0x1000, fingerprint: 9, position: 0, flags: [])
        let (named, complete) = Symbolizer.rubyFrame(frame, iseq: iseq)
        #expect(complete)
        #expect(named.type == .ruby && named.functionName == "beta" && named.sourceFile == "/app/known_truth.rb")
        #expect(named.sourceLine == 27)
        // Without its record: typed, addressed, unnamed, and not cached as complete.
        let (unnamed, unnamedComplete) = Symbolizer.rubyFrame(frame, iseq: nil)
        #expect(unnamed.type == .ruby && unnamed.functionName == nil && unnamed.address == 0x1000 && !unnamedComplete)
    }

    /// Kernel#loop between <main> and its block, as `ruby -e 'loop { puts caller(0); break }'`
    /// prints it: `-e:1:in 'loop'`, the C method named by its method record, at its caller's line.
    @Test func aCMethodIsNamedAtItsCallersPathAndLineBetweenItsCallers() throws {
        let method = try RubyISeq.decodeCMethod(name: Array("loop".utf8))
        #expect(method.isCMethod && method.label == "loop")
        #expect(throws: RubyISeqError.emptyLabel) { try RubyISeq.decodeCMethod(name: []) }
        let frame = RubyFrame(iseq: 0x5555_0000_1000, fingerprint: 3, position: RubyFrame.unknownPosition, flags: .cMethod)
        let (named, complete) = Symbolizer.rubyFrame(frame, iseq: method)
        #expect(complete && named.type == .ruby && named.functionName == "loop" && named.address == 0x5555_0000_1000)
        var walked = [Self.ruby("block in <main>", line: 82), named, Self.ruby("<main>", line: 81)]
        RubyFrameMerge.locateCMethods(&walked, cMethods: [false, true, false])
        #expect(walked[1].sourceFile == "/app/known_truth.rb" && walked[1].sourceLine == 81)
        let merged = RubyFrameMerge.merge(walked, entries: [true, false, true], into: Self.nativeFrames, userStart: 0)
        // The C method goes with its caller's exec call: rootward of its C code (rb_rescue2).
        #expect(merged.map { $0.functionName ?? "?" } == [
            "block in <main>", "?", "rb_vm_exec", "?", "rb_rescue2", "loop", "<main>", "?", "rb_vm_exec", "ruby_run_node", "main",
        ])
        // Called by no Ruby frame (a C method at the root of a thread): no path or line.
        var alone = [named]
        RubyFrameMerge.locateCMethods(&alone, cMethods: [true])
        #expect(alone[0].sourceFile == nil && alone[0].sourceLine == 0)
    }

    @Test func theTableIsBoundedByCountAndBytes() {
        var table = RubyISeqTable()
        let small = RubyISeq(label: "f", path: "/a.rb", firstLine: 1, lineTable: RubyLineTable(lines: [1], succinctTable: [], entryCount: 1))
        for index in 0..<6 {
            let stored = table.insert(small, pid: 1, key: RubyISeqKey(iseq: UInt64(index), fingerprint: 0), limit: 4)
            #expect(stored == (index < 4))
        }
        let long = RubyISeq(label: "g", path: "/a.rb", firstLine: 1,
                            lineTable: RubyLineTable(lines: Array(repeating: 1, count: 128), succinctTable: Array(repeating: 0, count: 1008),
                                                     entryCount: 128))
        var bytes = RubyISeqTable()
        // 2 iseqs allowed: 2 KiB in all; this one takes more than 1 KiB.
        let first = bytes.insert(long, pid: 2, key: RubyISeqKey(iseq: 1, fingerprint: 0), limit: 2)
        let second = bytes.insert(long, pid: 2, key: RubyISeqKey(iseq: 2, fingerprint: 0), limit: 2)
        #expect(first && !second)
        bytes.remove(pid: 2)
        #expect(bytes.count == 0 && bytes.bytes == 0)
    }
}
