import PerlLayouts
import PerlSymbolization
import Testing

/// Sub records as the walker copies them: HEKs (hash, length, key, flags byte) and a C
/// string, laid out with the real layout; and hostile copies.
@Suite struct PerlSubTests {
    static let layout = PerlLayout.supported[0]

    /// A HEK's bytes as perl lays one out: hash, length, key, NUL... here the flags byte.
    static func hek(_ key: String, length: Int? = nil) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(layout.hekKey))
        let count = UInt32(bitPattern: Int32(length ?? key.utf8.count))
        for index in 0..<4 { bytes[Int(layout.hekLength) + index] = UInt8(truncatingIfNeeded: count >> (8 * index)) }
        return bytes + Array(key.utf8) + [0]
    }

    @Test func namesASubByPackageAndName() throws {
        let sub = try PerlSub(flags: [], name: Self.hek("spin"), package: Self.hek("Work::Inner"),
                              file: Array("/tmp/work.pl".utf8) + [0], layout: Self.layout)
        #expect(sub == PerlSub(name: "Work::Inner::spin", file: "/tmp/work.pl"))
    }

    @Test func packageUnreadableLeavesTheName() throws {
        let sub = try PerlSub(flags: [.packageUnreadable, .fileUnreadable], name: Self.hek("beta"), package: [],
                              file: [], layout: Self.layout)
        #expect(sub == PerlSub(name: "beta", file: ""))
    }

    @Test func mainProgramIsNamedByItsFile() throws {
        let sub = try PerlSub(flags: [.mainProgram], name: [], package: [], file: Array("script.pl".utf8),
                              layout: Self.layout)
        #expect(sub == PerlSub(name: PerlSub.mainProgramName, file: "script.pl"))
    }

    @Test func aCutNameKeepsWhatWasCopied() throws {
        let long = String(repeating: "x", count: 300)
        let copied = Array(Self.hek(long).prefix(136))
        let sub = try PerlSub(flags: [.nameCut], name: copied, package: Self.hek("main"), file: [], layout: Self.layout)
        #expect(sub.name == "main::" + String(repeating: "x", count: 136 - Int(Self.layout.hekKey)))
    }

    @Test func hostileCopiesAreRefused() {
        // A length past the copy without the cut flag, a negative length, a copy shorter than the header.
        #expect(throws: PerlSubError.self) {
            try PerlSub(flags: [], name: Self.hek("abc", length: 1000), package: [], file: [], layout: Self.layout)
        }
        #expect(throws: PerlSubError.self) {
            try PerlSub(flags: [], name: Self.hek("abc", length: -1), package: [], file: [], layout: Self.layout)
        }
        #expect(throws: PerlSubError.self) {
            try PerlSub(flags: [], name: [1, 2, 3], package: [], file: [], layout: Self.layout)
        }
        #expect(throws: PerlSubError.self) {
            try PerlSub(flags: [.nameUnreadable], name: [], package: [], file: [], layout: Self.layout)
        }
    }

    @Test func invalidUTF8IsReplacedNotTrusted() throws {
        var name = Self.hek("ab")
        name[Int(Self.layout.hekKey)] = 0xff
        let sub = try PerlSub(flags: [.packageUnreadable], name: name, package: [], file: [0xc3], layout: Self.layout)
        #expect(sub.name == "\u{FFFD}b")
        #expect(sub.file == "\u{FFFD}")
    }
}
