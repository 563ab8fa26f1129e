import Foundation
import Testing
import V8Layouts
import V8Symbolization

/// Sparkplug code's bytecode-offset table, decoded against real tables: copies taken by
/// ptrace (scripts/v8-layouts/walk_node.py's `Walker.baseline`) from Debian's node 20.20.2
/// (V8 11.3.244.8, layout 0) running `node --always-sparkplug --no-opt --no-maglev
/// Tests/Workloads/node/known_truth.js`: a caller's frame's return address (offset from the
/// baseline code's first instruction), the code's bytecode-offset table, the function's
/// bytecodes and its bytecode source position table, as hex.
@Suite struct BaselineOffsetTests {
    struct Fixture {
        var name: String
        var pcOffset: UInt32
        var table: String
        var bytecodes: String
        var positions: String
        /// What the frame called: the source text at the call's position starts with it.
        var call: String
    }

    static let fixtures = [
        Fixture(name: "measured", pcOffset: 132,
                table: "1a11041804110408041804082f04040e040804180e120411",
                bytecodes: "210000c12df70102c25df8f704c41702c262f80406c31703aa02c20b032ff808c01704bf62f5fa0b38f60a34f8030d0bf9a9",
                positions: "01e42a02880109200b000a7c07000a440f180f200f0b08500438",
                call: "spin(units)"),
        Fixture(name: "fnGamma", pcOffset: 393,
                table: "19500808110408070408112b1104080402161b041708040a041b040811110424040713040c0804081111",
                bytecodes: "aefa000119fef91902f86802f902c419fff90fc119faf86801f802affafa0200b0fafa02c2680bfa01c10c1cf798050bf8a81705c21301c163f8f70300c119faf86804f802a9c282f802c310a60bf91af81702c019faf76803f702a9",
                positions: "01d4391700103813002e400d1c1a64",
                call: "measured('gamma', units)"),
        Fixture(name: "cpu", pcOffset: 92,
                table: "171104180414041804180e11",
                bytecodes: "210000c22df80102c35ef9f80304c42dfa0207c32dfa030938f906a9",
                positions: "01fc21027009200b000c88010b30091b0638",
                call: "cpuUsage(before)"),
        // Its loop's back edge (the interrupt check a builtin with a frame of its own made).
        Fixture(name: "spin", pcOffset: 440,
                table: "1d02040a041404180414041804111404140e0b040204040e1b041404040e1404040a047c0411",
                bytecodes: "0cc4000d1027c0210002be2df40104bf210002bc2df20207bd5df3f2090046204e0600bd5ef5f4f30b38f6013a0300c30cc20bf96df80d99210bfa461f10c10bf838f70f014843420f000e000000c40bf85011c2892200120bfaa9",
                positions: "01cc1a025804540b4409140b1809140b0009240f4f0b1b0723088002041405000a38051c0d14071416530b6f0880020424",
                call: "for (let i = 0; i < steps; i++)"),
    ]

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    /// The workload's source in UTF-16 units, as V8 counts positions.
    static func source() throws -> [UInt16] {
        Array(try String(contentsOf: LayoutTableTests.repository.appendingPathComponent("Tests/Workloads/node/known_truth.js"),
                         encoding: .utf8).utf16)
    }

    /// A piece per bytecode after the prologue's, each starting where the previous bytecode
    /// ended: the sizes step exactly through the bytecodes.
    @Test(arguments: fixtures) func piecesFollowTheBytecodes(_ fixture: Fixture) {
        let bytecodes = Self.bytes(fixture.bytecodes)
        let offsets = V8BaselineOffsets(table: Self.bytes(fixture.table), bytecodes: bytecodes,
                                        sizes: V8Layout.bytecodeSizes[0])
        let pieces = offsets.pieces
        #expect(pieces.first?.bytecodeOffset == V8BaselineOffsets.functionEntry)
        #expect(pieces.dropFirst().map(\.bytecodeOffset).allSatisfy { $0 >= 0 && Int($0) < bytecodes.count })
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.end <= $1.end && $0.bytecodeOffset < $1.bytecodeOffset })
        // The last bytecode (Return) is one byte: the steps end exactly at the bytecodes' end.
        #expect(pieces.last.map { Int($0.bytecodeOffset) + 1 } == bytecodes.count)
    }

    /// A caller's return address maps to its call: the source position of that bytecode is
    /// the call expression in the script.
    @Test(arguments: fixtures) func returnAddressIsAtTheCall(_ fixture: Fixture) throws {
        let code = V8Code(bytecodes: Self.bytes(fixture.bytecodes), bytecodeOffsetTable: Self.bytes(fixture.table),
                          bytecodeSizes: V8Layout.bytecodeSizes[0])
        let bytecodeOffset = try #require(code.baseline?.bytecodeOffset(atPCOffset: fixture.pcOffset))
        let position = V8SourcePositionTable(bytes: Self.bytes(fixture.positions))
            .sourcePosition(atCodeOffset: Int(bytecodeOffset))
        let scriptOffset = try #require(position?.scriptOffset)
        let text = String(decoding: try Self.source().dropFirst(scriptOffset).prefix(fixture.call.utf16.count), as: UTF16.self)
        #expect(text == fixture.call, "\(fixture.name): bytecode \(bytecodeOffset), script offset \(scriptOffset)")
    }

    /// Offsets in the prologue, past the table or at 0 have no bytecode.
    @Test func boundsAndCuts() {
        let fixture = Self.fixtures[0]
        let table = Self.bytes(fixture.table), bytecodes = Self.bytes(fixture.bytecodes)
        let whole = V8BaselineOffsets(table: table, bytecodes: bytecodes, sizes: V8Layout.bytecodeSizes[0])
        #expect(whole.bytecodeOffset(atPCOffset: 0) == nil)
        #expect(whole.bytecodeOffset(atPCOffset: 1) == V8BaselineOffsets.functionEntry)
        let end = whole.pieces.last!.end
        #expect(whole.bytecodeOffset(atPCOffset: end) != nil)
        #expect(whole.bytecodeOffset(atPCOffset: end + 1) == nil)
        // Bytecodes cut in half: pieces stop at the cut, none past it.
        let cut = V8BaselineOffsets(table: table, bytecodes: Array(bytecodes.prefix(bytecodes.count / 2)),
                                    sizes: V8Layout.bytecodeSizes[0])
        #expect(cut.pieces.count < whole.pieces.count)
        #expect(cut.pieces.allSatisfy { Int($0.bytecodeOffset) < bytecodes.count / 2 })
        #expect(zip(cut.pieces, whole.pieces).allSatisfy { $0.end == $1.end && $0.bytecodeOffset == $1.bytecodeOffset })
        // A table cut inside a number: the pieces before it.
        let shortTable = V8BaselineOffsets(table: table.prefix(3) + [0x80], bytecodes: bytecodes,
                                           sizes: V8Layout.bytecodeSizes[0])
        #expect(shortTable.pieces.count == 3)
    }

    /// The committed sizes are the installed node's `Bytecodes::kBytecodeSizes`.
    @Test(.enabled(if: LayoutTableTests.hasNode)) func sizesMatchTheInstalledNode() throws {
        let directory = LayoutTableTests.repository.appendingPathComponent("scripts/v8-layouts").path
        let (status, output) = try LayoutTableTests.run([
            "python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import read_v8dbg; print(read_v8dbg.bytecode_sizes(sys.argv[2]))",
            directory, LayoutTableTests.node,
        ])
        #expect(status == 0)
        let rows = V8Layout.bytecodeSizes[0].map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "[" + rows.joined(separator: ", ") + "]")
    }
}
