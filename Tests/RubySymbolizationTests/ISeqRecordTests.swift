import Foundation
import RubyLayouts
import RubySymbolization
import Testing

/// Iseq records of real iseqs: Fixtures/*.{body,label,path,lines,succ} are what
/// scripts/ruby-layouts/walk_ruby.py copied from a running Tests/Workloads/ruby/known_truth.rb
/// (Ruby 3.1.2, Debian), bounded as the BPF walker bounds them. The expected lines are Ruby's
/// own: the line `RubyVM::InstructionSequence#to_a` gives the instruction covering each position.
@Suite struct ISeqRecordTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func copies(_ name: String) throws -> RubyISeqCopies {
        func read(_ suffix: String) throws -> [UInt8] {
            Array(try Data(contentsOf: directory.appendingPathComponent("\(name).\(suffix)")))
        }
        return RubyISeqCopies(body: try read("body"), label: try read("label"), path: try read("path"),
                              lineEntries: try read("lines"), succinctTable: try read("succ"))
    }

    static let layout = RubyLayout.layout(for: RubyVersion(major: 3, minor: 1))!

    // First lines: the methods' source_location; lines: the instruction covering the position.
    @Test(arguments: [
        ("alpha", 14, [(28, 19)]),
        ("beta", 26, [(51, 30)]),
        ("gamma", 39, [(45, 45)]),
        // 119 is past the immediate part: a position ranked by the first succinct block.
        ("descend", 55, [(18, 56), (29, 58), (34, 59), (44, 60), (119, 65)]),
    ])
    func decodesLabelPathAndLines(name: String, firstLine: Int, lines: [(Int, Int)]) throws {
        let iseq = try RubyISeq.decode(try Self.copies(name), layout: Self.layout)
        #expect(iseq.label == name)
        #expect(iseq.path.hasSuffix("Tests/Workloads/ruby/known_truth.rb"))
        #expect(iseq.firstLine == firstLine)
        for (position, line) in lines {
            #expect(iseq.line(atPosition: UInt32(position)) == line, "position \(position)")
        }
    }

    @Test func aShortBodyIsRefusedWithItsCause() throws {
        var copies = try Self.copies("alpha")
        copies.body = Array(copies.body.prefix(40))
        #expect(throws: RubyISeqError.bodyTooShort(bytes: 40, needed: Int(Self.layout.bodyBytes))) {
            try RubyISeq.decode(copies, layout: Self.layout)
        }
    }

    @Test func cutLineCopiesFallBackToTheFirstLine() throws {
        var copies = try Self.copies("descend")
        copies.lineEntries = Array(copies.lineEntries.prefix(Int(Self.layout.lineEntrySize) * 2))
        copies.succinctTable = Array(copies.succinctTable.prefix(48))
        let iseq = try RubyISeq.decode(copies, layout: Self.layout)
        #expect(iseq.line(atPosition: 119) == iseq.firstLine)
        #expect(iseq.line(atPosition: 0) == 56)  // the first instruction: `return descend(...) if depth > 0`
    }

    /// Copies from another process's memory can be anything: random bytes of every length up to
    /// the walker's bounds decode or fail with an error, and never name a line the copied
    /// entries do not hold.
    @Test func randomCopiesDecodeOrFailCleanly() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        func bytes(_ bound: Int) -> [UInt8] { (0..<Int(next() % UInt64(bound + 1))).map { _ in UInt8(truncatingIfNeeded: next()) } }
        for _ in 0..<500 {
            let copies = RubyISeqCopies(body: bytes(160), label: bytes(256), path: bytes(512), lineEntries: bytes(3072),
                                        succinctTable: bytes(1008))
            guard let iseq = try? RubyISeq.decode(copies, layout: Self.layout) else { continue }
            let held = Set(iseq.lineTable.lines.map(Int.init))
            for position in [0, 1, 53, 54, 55, 600, 5000, 0xff_ffff] {
                let line = iseq.line(atPosition: UInt32(position))
                #expect(line == iseq.firstLine || held.contains(line))
            }
        }
    }
}
