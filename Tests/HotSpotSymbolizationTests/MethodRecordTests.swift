import Foundation
import HotSpotLayouts
@testable import HotSpotSymbolization
import Testing

/// Method records copied from a live JDK 17 (Fixtures/make-fixtures.sh), decoded and
/// compared with javap's view of the same class files.
@Suite struct MethodRecordTests {
    struct Fixture: Decodable {
        struct Method: Decodable {
            var constMethod: String
            var klassName: String
            var methodName: String
            var sourceFile: String
            var lineTable: String
        }
        struct Javap: Decodable {
            var `class`: String
            var method: String
            var bciLines: [[Int32]]
        }
        var release: String
        var methods: [Method]
        var javap: [Javap]

        static func load() throws -> Fixture {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/methods-jdk17.json")
            return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        }
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    static func copies(_ method: Fixture.Method) -> HotSpotMethodCopies {
        HotSpotMethodCopies(constMethod: bytes(method.constMethod), className: bytes(method.klassName),
                            methodName: bytes(method.methodName), sourceFile: bytes(method.sourceFile),
                            lineTable: bytes(method.lineTable))
    }

    let layout = HotSpotLayout.supported[HotSpotLayout.index(ofFeatureVersion: 17)!]

    @Test func namesAndLinesAreJavapsOwn() throws {
        let fixture = try Fixture.load()
        var compared = 0
        for record in fixture.methods {
            let method = try HotSpotMethod(decoding: Self.copies(record), layout: layout)
            #expect(method.className.hasPrefix("tandem.fixture.Spin"))
            guard let truth = fixture.javap.first(where: { $0.class == method.className && $0.method == method.methodName })
            else {
                // The lambda's hidden class: no class file, no line table.
                #expect(method.className == "tandem.fixture.Spin$$Lambda$1", "\(method.qualifiedName)")
                #expect(method.lineTable.entries.isEmpty)
                continue
            }
            #expect(method.sourceFile == "Spin.java")
            #expect(!method.lineTable.isCut)
            #expect(method.lineTable.entries.map { [$0.bci, $0.line] } == truth.bciLines, "\(method.qualifiedName)")
            // Every bci between two entries has the line of the entry at or below it.
            for (index, pair) in truth.bciLines.enumerated() {
                let next = index + 1 < truth.bciLines.count ? truth.bciLines[index + 1][0] : pair[0] + 1
                for bci in pair[0]..<max(next, pair[0] + 1) {
                    #expect(method.line(forBCI: bci) == Int(pair[1]), "\(method.qualifiedName) bci \(bci)")
                }
            }
            compared += 1
        }
        let names = Set(try fixture.methods.map { try HotSpotMethod(decoding: Self.copies($0), layout: layout).qualifiedName })
        #expect(names.isSuperset(of: ["tandem.fixture.Spin.alpha", "tandem.fixture.Spin.beta",
                                      "tandem.fixture.Spin$Nested.mix", "tandem.fixture.Spin.lambda$main$0"]))
        #expect(compared >= 4)
    }

    /// Every prefix of a real record decodes or fails with an error, never traps, and a cut
    /// name is an error rather than a shorter name.
    @Test func cutCopiesFailOrKeepWhatTheyHold() throws {
        let record = try #require(try Fixture.load().methods.first {
            Self.bytes($0.methodName).count > 8 && !$0.lineTable.isEmpty
        })
        let whole = Self.copies(record)
        for count in 0..<whole.methodName.count {
            var cut = whole
            cut.methodName = Array(whole.methodName.prefix(count))
            #expect(throws: HotSpotMethod.DecodingError.self) { try HotSpotMethod(decoding: cut, layout: layout) }
        }
        for count in 0..<whole.constMethod.count {
            var cut = whole
            cut.constMethod = Array(whole.constMethod.prefix(count))
            _ = try? HotSpotMethod(decoding: cut, layout: layout)
        }
        let full = try HotSpotMethod(decoding: whole, layout: layout)
        for count in 0..<whole.lineTable.count {
            var cut = whole
            cut.lineTable = Array(whole.lineTable.prefix(count))
            let method = try HotSpotMethod(decoding: cut, layout: layout)
            #expect(full.lineTable.entries.starts(with: method.lineTable.entries))
        }
    }

    @Test func lineTableEncodings() {
        // (0, 17) long form, (2, 18) and (9, 19) short, (16, 18) long with a negative line delta, end.
        let table = HotSpotLineNumberTable(compressed: [0xff, 0x00, 0x22, 0x11, 0x39, 0xff, 0x0e, 0x01, 0x00, 0x77][...])
        #expect(table.entries.map { [$0.bci, $0.line] } == [[0, 17], [2, 18], [9, 19], [16, 18]])
        #expect(!table.isCut)
        #expect(table.line(forBCI: 12) == 19)
        #expect(table.line(forBCI: -5) == nil)
        // 2-byte UNSIGNED5 deltas: 0xc8 (>= 192) goes on, 200 + 0 << 6 = zigzag 200 → +100;
        // 200 + 1 << 6 = 264 → +132; then line +1 (zigzag 2).
        let long = HotSpotLineNumberTable(compressed: [0xff, 0xc8, 0x00, 0x02, 0xff, 0xc8, 0x01, 0x00, 0x00][...])
        #expect(long.entries.map { [$0.bci, $0.line] } == [[100, 1], [232, 1]])
        // Garbage that never ends: every byte decodes, the table is cut, nothing traps.
        let garbage = HotSpotLineNumberTable(compressed: [UInt8](repeating: 0xff, count: 64)[...])
        #expect(garbage.isCut)
    }

    @Test func symbolsAndClassNames() {
        let layout = self.layout
        func symbol(_ body: [UInt8]) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: Int(layout.symbolBody))
            bytes[Int(layout.symbolLength)] = UInt8(body.count & 0xff)
            bytes[Int(layout.symbolLength) + 1] = UInt8(body.count >> 8)
            return bytes + body
        }
        func text(_ body: [UInt8]) -> String? {
            try? HotSpotSymbolText.decode(symbol(body)[...], lengthOffset: Int(layout.symbolLength),
                                          bodyOffset: Int(layout.symbolBody)).get()
        }
        #expect(text(Array("caf\u{e9}".utf8)) == "caf\u{e9}")
        #expect(text([0x61, 0xc0, 0x80, 0x62]) == "a\u{0}b")  // modified UTF-8's NUL
        // U+1F600 as the JVM writes it: two 3-byte surrogates.
        #expect(text([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]) == "\u{1F600}")
        #expect(text([0xff, 0x41]) == "\u{FFFD}A")
        #expect(HotSpotMethod.javaClassName("java/util/HashMap$Node") == "java.util.HashMap$Node")
        #expect(HotSpotMethod.javaClassName("p/Spin$$Lambda$1+0x00007f23a8000a08") == "p.Spin$$Lambda$1")
        #expect(HotSpotMethod.javaClassName("p/Spin$$Lambda$14/0x0000000800c0b000") == "p.Spin$$Lambda$14")
    }
}
