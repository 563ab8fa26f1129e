import ELF
import Foundation
import Testing
import V8Layouts
import V8Symbolization

@Suite struct RuntimeDetectionTests {
    static func elf(_ path: String) throws -> ELFFile {
        try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
    }

    /// The installed node's build has the table's layout, and its metadata symbol is where nm says.
    @Test(.enabled(if: LayoutTableTests.hasNode)) func findsTheInstalledNode() throws {
        let (status, listing) = try LayoutTableTests.run(["nm", "-D", LayoutTableTests.node])
        #expect(status == 0)
        let line = listing.split(separator: "\n").first { $0.hasSuffix(" v8dbg_off_fp_function") }
        let address = line.flatMap { UInt64($0.split(separator: " ")[0], radix: 16) }
        #expect(try V8Runtime.detect(in: Self.elf(LayoutTableTests.node))
                == .runtime(V8Runtime(layoutIndex: 0, metadataAddress: try #require(address))))
    }

    @Test func otherFilesAreNotV8() throws {
        #expect(try V8Runtime.detect(in: Self.elf("/bin/ls")) == .notV8)
    }

    @Test func functionNames() {
        let layout = V8Layout.supported[0]
        func copy(_ text: String) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: Int(layout.seqStringChars))
            bytes[Int(layout.stringLength)] = UInt8(text.utf8.count)
            return bytes + Array(text.utf8)
        }
        let oneByte = layout.seqStringTag | layout.oneByteStringTag
        let named = V8Function(nameType: oneByte, name: copy("beta"), scriptNameType: oneByte,
                               scriptName: copy("/app/known_truth.js"), layout: layout)
        #expect(named == V8Function(name: "beta", scriptName: "/app/known_truth.js"))
        // No name, an empty name, or a copy the decoder refuses: what V8's profiler shows.
        #expect(V8Function(nameType: 0, name: [], scriptNameType: 0, scriptName: [], layout: layout)
                == V8Function(name: V8Function.anonymousName, scriptName: ""))
        #expect(V8Function(nameType: oneByte, name: copy(""), scriptNameType: oneByte, scriptName: copy("x.js"),
                           layout: layout).name == V8Function.anonymousName)
        #expect(V8Function(nameType: layout.typeScript, name: copy("x"), scriptNameType: 0, scriptName: [],
                           layout: layout).name == V8Function.anonymousName)
    }
}
