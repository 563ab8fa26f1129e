import Foundation
import HotSpotLayouts
@testable import HotSpotSymbolization
import Testing

/// Inlining scopes of real nmethods (Fixtures/make-fixtures.sh), checked against the class
/// files: C1's alpha inlines Spin$Nested.mix at its invokestatic (bci 11, javap -c).
@Suite struct ScopesTests {
    struct Fixture: Decodable {
        struct NMethod: Decodable {
            var method: String
            var level: Int
            var pcDescs: String
            var scopes: String
            var metadata: [String]
        }
        var nmethods: [NMethod]
        var metadataNames: [String: String]
    }

    let layout = HotSpotLayout.supported[HotSpotLayout.index(ofFeatureVersion: 17)!]

    func load() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/methods-jdk17.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func scopes(_ nmethod: Fixture.NMethod) -> (HotSpotScopes, pcOffsets: [Int32]) {
        let pcDescs = MethodRecordTests.bytes(nmethod.pcDescs)
        let scopes = HotSpotScopes(pcDescs: pcDescs, pcDescSize: Int(layout.pcDescSize), pcOffsetField: Int(layout.pcDescPCOffset),
                                   decodeOffsetField: Int(layout.pcDescScopeDecodeOffset),
                                   scopes: MethodRecordTests.bytes(nmethod.scopes),
                                   metadata: nmethod.metadata.map { UInt64($0, radix: 16)! })
        let offsets = stride(from: 0, to: pcDescs.count, by: Int(layout.pcDescSize)).map { base in
            pcDescs.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + Int(layout.pcDescPCOffset), as: Int32.self) }
        }
        return (scopes, offsets)
    }

    @Test func inlinedMixIsUnderAlphaAtItsCall() throws {
        let fixture = try load()
        func name(_ method: UInt64) -> String { fixture.metadataNames[String(method, radix: 16)] ?? "?" }
        var chains: Set<[String]> = []
        for nmethod in fixture.nmethods {
            let (scopes, offsets) = scopes(nmethod)
            for offset in offsets {
                let chain = scopes.scopes(atPCOffset: offset)
                // The outermost scope is the nmethod's own method.
                if let outer = chain.last, outer.method != 0 {
                    #expect(String(outer.method, radix: 16) == nmethod.method)
                }
                chains.insert(chain.map { "\(name($0.method))@\($0.bci)" })
            }
        }
        #expect(chains.contains(["tandem.fixture.Spin$Nested.mix@-1", "tandem.fixture.Spin.alpha@11"]), "\(chains)")
    }

    /// Garbage scopes end the chain (bounded depth, no loop), never trap.
    @Test func hostileScopesAreBounded() {
        // A scope whose sender is itself, and indexes past the metadata.
        let looping = HotSpotScopes(pcDescs: [0, 0, 0, 0, 1, 0, 0, 0], pcDescSize: 8, pcOffsetField: 0, decodeOffsetField: 4,
                                    scopes: [0, 1, 9, 3], metadata: [0x1000])
        #expect(looping.scopes(atPCOffset: 0) == [.init(method: 0, bci: 2)])
        let cut = HotSpotScopes(pcDescs: [0, 0, 0, 0, 1, 0, 0, 0], pcDescSize: 8, pcOffsetField: 0, decodeOffsetField: 4,
                                scopes: [0, 0xff], metadata: [])
        #expect(cut.scopes(atPCOffset: 0).isEmpty)
        #expect(cut.scopes(atPCOffset: 99).isEmpty)
        let chain = HotSpotScopes(pcDescs: [4, 0, 0, 0, 1, 0, 0, 0], pcDescSize: 8, pcOffsetField: 0, decodeOffsetField: 4,
                                  scopes: [0, 4, 1, 5, 0, 2, 0], metadata: [0xa, 0xb])
        // pc 2 takes the next descriptor (pc 4): inner method 0xa at bci 4, sender at offset 4: 0xb at bci -1.
        #expect(chain.scopes(atPCOffset: 2) == [.init(method: 0xa, bci: 4), .init(method: 0xb, bci: -1)])
    }
}
