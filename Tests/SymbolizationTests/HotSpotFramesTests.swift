import Foundation
import HotSpotLayouts
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

    /// An nmethod's code record, from a real one (C1's `Spin.alpha` with `Spin$Nested.mix`
    /// inlined at bci 11, JDK 17: Tests/HotSpotSymbolizationTests/Fixtures): a pc offset's
    /// frames are the inlined method then its caller, each named by its method record with the
    /// line of its bci (javap: alpha's bci 11 is line 19).
    @Test func compiledFramesNameTheMethodsInlinedAtTheirPC() throws {
        struct Fixture: Decodable {
            struct Method: Decodable {
                var constMethod, klassName, methodName, sourceFile, lineTable: String
            }
            struct NMethod: Decodable {
                var method: String
                var level: Int
                var pcDescs, scopes: String
                var metadata: [String]
            }
            var methods: [Method]
            var nmethods: [NMethod]
            var metadataNames: [String: String]
        }
        func bytes(_ hex: String) -> [UInt8] {
            stride(from: 0, to: hex.count - 1, by: 2).map { offset in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
            }
        }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../HotSpotSymbolizationTests/Fixtures/methods-jdk17.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let layout = HotSpotLayout.supported[try #require(HotSpotLayout.index(ofFeatureVersion: 17))]
        var byName: [String: HotSpotMethod] = [:]
        for method in fixture.methods {
            let decoded = try HotSpotMethod(decoding: HotSpotMethodCopies(
                constMethod: bytes(method.constMethod), className: bytes(method.klassName), methodName: bytes(method.methodName),
                sourceFile: bytes(method.sourceFile), lineTable: bytes(method.lineTable)), layout: layout)
            byName[decoded.qualifiedName] = decoded
        }
        let alpha = try #require(fixture.metadataNames.first { $0.value == "tandem.fixture.Spin.alpha" }?.key)
        let nmethod = try #require(fixture.nmethods.first { $0.method == alpha && $0.level == 3 })
        let record = HotSpotCodeRecord(
            pid: 1, code: 0x7f00_0000, fingerprint: 5, featureVersion: 17, flags: 0, method: UInt64(alpha, radix: 16)!,
            methodFingerprint: 7, metadata: nmethod.metadata.map { .init(address: UInt64($0, radix: 16)!, fingerprint: 7) },
            pcDescs: bytes(nmethod.pcDescs), scopes: bytes(nmethod.scopes))
        let code = HotSpotCode(record, layout: layout)
        func method(_ key: HotSpotMethodKey) -> HotSpotMethod? {
            key.fingerprint == 7 ? fixture.metadataNames[String(key.method, radix: 16)].flatMap { byName[$0] } : nil
        }
        let pcDescs = bytes(nmethod.pcDescs)
        let offsets = stride(from: 0, to: pcDescs.count, by: Int(layout.pcDescSize)).map { base in
            pcDescs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + Int(layout.pcDescPCOffset), as: Int32.self) }
        }
        var chains: [[String]] = []
        for offset in offsets where offset >= 0 {
            let frames = code.frames(atPCOffset: UInt32(offset), method: method)
            #expect(frames.allSatisfy { $0.complete && $0.0.type == .jvm })
            chains.append(frames.map { "\($0.0.functionName ?? "?"):\($0.0.sourceLine)" })
        }
        // mix's line is its body's (Spin.java 9-11); alpha is at its call of mix, line 19.
        #expect(chains.contains { $0.count == 2 && $0[0].hasPrefix("tandem.fixture.Spin$Nested.mix:1")
                && $0[1] == "tandem.fixture.Spin.alpha:19" }, "\(chains)")
        // Past the last PcDesc the scopes say nothing: the nmethod's own method, without a line.
        let past = code.frames(atPCOffset: UInt32(offsets.max()! + 1), method: method)
        #expect(past.map { $0.0.functionName } == ["tandem.fixture.Spin.alpha"] && past[0].0.sourceLine == 0)
        // An inlined method whose record has not come: named by its Method *, not final.
        let inner = code.frames(atPCOffset: UInt32(offsets.max()! + 1), method: { _ in nil })
        #expect(inner.count == 1 && inner[0].0.functionName == nil && !inner[0].complete)
    }

    /// Hostile code records stay bounded: a huge one is refused by bytes, a pid's are freed with it.
    @Test func codeTableIsBoundedByCountAndBytes() {
        func code(_ bytes: Int) -> HotSpotCode {
            HotSpotCode(HotSpotCodeRecord(pid: 1, code: 1, fingerprint: 1, featureVersion: 17, flags: 0, method: 1,
                                          methodFingerprint: 1, metadata: [], pcDescs: Array(repeating: 0xff, count: bytes),
                                          scopes: []), layout: HotSpotLayout.supported[0])
        }
        var table = HotSpotCodeTable()
        let first = table.insert(code(16), pid: 1, key: .init(method: 1, fingerprint: 1), limit: 2)
        let second = table.insert(code(16), pid: 1, key: .init(method: 2, fingerprint: 1), limit: 2)
        let third = table.insert(code(16), pid: 2, key: .init(method: 3, fingerprint: 1), limit: 2)
        let huge = table.insert(code(5000), pid: 1, key: .init(method: 1, fingerprint: 1), limit: 2)
        #expect(first && second && !third && !huge)
        table.remove(pid: 1)
        #expect(table.count == 0 && table.bytes == 0)
    }
}
