import HotSpotSymbolization
import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// Java frames named from method records and put in place of the native frames they are.
@Suite struct HotSpotFramesTests {
    static let alpha = HotSpotMethod(
        className: "tandem.fixture.Spin", methodName: "alpha", sourceFile: "Spin.java",
        lineTable: HotSpotLineNumberTable(entries: [.init(bci: 0, line: 17), .init(bci: 2, line: 18), .init(bci: 9, line: 19)],
                                          isCut: false),
        codeSize: 24)

    @Test func interpretedFramesGetTheirLineCompiledOnesTheMethod() {
        let interpreted = HotSpotFrame(method: 0x1000, fingerprint: 7, position: 10, slot: 0, kind: .interpreted)
        let (frame, complete) = Symbolizer.hotspotFrame(interpreted, method: Self.alpha)
        #expect(complete)
        #expect(frame.type == .jvm)
        #expect(frame.functionName == "tandem.fixture.Spin.alpha")
        #expect(frame.sourceFile == "Spin.java")
        #expect(frame.sourceLine == 19)
        let compiled = HotSpotFrame(method: 0x1000, fingerprint: 7, position: 0x1c0, slot: 1, kind: .compiled)
        #expect(Symbolizer.hotspotFrame(compiled, method: Self.alpha).0.sourceLine == 0)
        // A method whose record has not come: typed, named by its Method *, not final.
        let (unnamed, done) = Symbolizer.hotspotFrame(compiled, method: nil)
        #expect(unnamed.type == .jvm && unnamed.functionName == nil && unnamed.address == 0x1000 && !done)
    }

    @Test func javaFramesReplaceTheirNativeSlots() {
        let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_0000, functionName: "asm_sysvec_apic_timer_interrupt")
        // Slot 0: a JIT pc the perf map named too; slot 1: a bare JIT pc; slot 2: libjvm's C++.
        let native = [
            kernel,
            Frame(type: .jvm, address: 0x7f00_1000, functionName: "int tandem.fixture.Spin.alpha(int)"),
            Frame(type: .jvm, address: 0x7f00_2000),
            Frame(type: .native, address: 0x7f80_0000, functionName: "JavaCalls::call_helper"),
        ]
        let java: [(slot: Int, frame: Frame)] = [
            (0, Frame(type: .jvm, address: 1, functionName: "Spin$Nested.mix")),  // inlined into alpha
            (0, Frame(type: .jvm, address: 2, functionName: "Spin.alpha")),
            (1, Frame(type: .jvm, address: 3, functionName: "Spin.main")),
            (9, Frame(type: .jvm, address: 4, functionName: "beyond the stack")),
        ]
        let merged = HotSpotFrameMerge.merge(java, into: native, userStart: 1)
        #expect(merged.map(\.functionName) == [
            "asm_sysvec_apic_timer_interrupt", "Spin$Nested.mix", "Spin.alpha", "Spin.main", "JavaCalls::call_helper",
        ])
        // Nothing counted twice: the perf map's name for slot 0 is gone.
        #expect(!merged.contains { $0.functionName == "int tandem.fixture.Spin.alpha(int)" })
    }

    @Test func tableIsBoundedByCountAndBytes() {
        var table = HotSpotMethodTable()
        let first = table.insert(Self.alpha, pid: 1, key: .init(method: 1, fingerprint: 1), limit: 2)
        let second = table.insert(Self.alpha, pid: 1, key: .init(method: 2, fingerprint: 1), limit: 2)
        let third = table.insert(Self.alpha, pid: 2, key: .init(method: 3, fingerprint: 1), limit: 2)
        #expect(first && second && !third)
        // A reused Method * with another fingerprint is another method.
        #expect(table.method(pid: 1, .init(method: 1, fingerprint: 2)) == nil)
        let long = HotSpotMethod(className: String(repeating: "c", count: 4000), methodName: "m", sourceFile: "",
                                 lineTable: HotSpotLineNumberTable(entries: [], isCut: false), codeSize: 1)
        var small = HotSpotMethodTable()
        let inserted = small.insert(long, pid: 1, key: .init(method: 9, fingerprint: 9), limit: 4)
        #expect(!inserted)
        table.remove(pid: 1)
        #expect(table.count == 0 && table.bytes == 0)
    }
}
