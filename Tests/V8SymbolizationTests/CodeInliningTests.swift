import Testing
import V8Symbolization

/// Optimized code's inlined functions at a machine-code offset (docs/v8.md), from a table and
/// inlining positions built as V8 lays them out: main's TurboFan code that inlined timed, the
/// arrow timed calls, fnAlpha and spin, each into the one before.
@Suite struct CodeInliningTests {
    typealias Entry = SourcePositionTableTests.Entry

    /// One inlining-positions entry: the call site's SourcePosition, the function's index, padding.
    static func inlining(callSiteOffset: Int, callerID: Int, function: Int32) -> [UInt8] {
        let raw = UInt64(callSiteOffset + 1) << 1 | UInt64(callerID) << 31
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: raw >> (8 * $0)) }
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: function) >> (8 * $0)) }
        return bytes + [0, 0, 0, 0]
    }

    // functions: 0 timed, 1 the arrow, 2 fnAlpha, 3 spin; inlining ids 1-4 in that order.
    let positions = inlining(callSiteOffset: 900, callerID: 0, function: 0) + inlining(callSiteOffset: 700, callerID: 1, function: 1)
        + inlining(callSiteOffset: 300, callerID: 2, function: 2) + inlining(callSiteOffset: 250, callerID: 3, function: 3)
    let table = SourcePositionTableTests.encode([
        Entry(codeOffset: 0, scriptOffset: 880),
        Entry(codeOffset: 100, scriptOffset: 710, inliningID: 1),
        Entry(codeOffset: 200, scriptOffset: 120, inliningID: 4),
        Entry(codeOffset: 300, scriptOffset: 905),
    ])

    @Test func namesTheChainInnermostFirst() {
        let code = V8Code(functionCount: 4, inliningPositions: positions, sourcePositionTable: table)
        #expect(code.inlinings.count == 4 && code.positions.count == 4)
        #expect(code.inlinedFunctions(atCodeOffset: 250) == [3, 2, 1, 0])
        #expect(code.inlinedFunctions(atCodeOffset: 200) == [3, 2, 1, 0])
        #expect(code.inlinedFunctions(atCodeOffset: 150) == [0])
        #expect(code.inlinedFunctions(atCodeOffset: 50) == [])
        #expect(code.inlinedFunctions(atCodeOffset: 4000) == [])
        #expect(V8Code(functionCount: 0, inliningPositions: [], sourcePositionTable: []).inlinedFunctions(atCodeOffset: 0) == [])
    }

    /// Each frame's script offset: the table's for the innermost, then each inlining's call site;
    /// the code's own function's at the end of the chain.
    @Test func givesEachFrameItsPosition() {
        let code = V8Code(functionCount: 4, inliningPositions: positions, sourcePositionTable: table)
        let running = code.frames(atCodeOffset: 250)
        #expect(running.inlined.map(\.function) == [3, 2, 1, 0])
        #expect(running.inlined.map(\.scriptOffset) == [120, 250, 300, 700])
        #expect(running.ownScriptOffset == 900)
        let own = code.frames(atCodeOffset: 350)
        #expect(own.inlined.isEmpty && own.ownScriptOffset == 905)
        // A broken chain leaves the own function without a position.
        let outside = V8Code(functionCount: 2, inliningPositions: positions, sourcePositionTable: table)
        #expect(outside.frames(atCodeOffset: 250).ownScriptOffset == nil)
        #expect(code.frames(atCodeOffset: 50).ownScriptOffset == 880)
    }

    @Test func hostileCopiesEndTheChainWhereItBreaks() {
        // An inlining whose caller is itself (ids must decrease): one step, then it stops.
        let loop = Self.inlining(callSiteOffset: 1, callerID: 1, function: 0)
        let looping = V8Code(functionCount: 1, inliningPositions: loop,
                             sourcePositionTable: SourcePositionTableTests.encode([Entry(codeOffset: 0, scriptOffset: 1, inliningID: 1)]))
        #expect(looping.inlinedFunctions(atCodeOffset: 10) == [0])
        // A function index past the record's functions, an inlining id past the positions.
        let outside = V8Code(functionCount: 2, inliningPositions: positions, sourcePositionTable: table)
        #expect(outside.inlinedFunctions(atCodeOffset: 250) == [])
        let cut = V8Code(functionCount: 4, inliningPositions: Array(positions.prefix(40)), sourcePositionTable: table)
        #expect(cut.inlinings.count == 2)
        #expect(cut.inlinedFunctions(atCodeOffset: 250) == [])
        #expect(cut.inlinedFunctions(atCodeOffset: 150) == [0])
        // -1: the code's own function inlined into itself (recursion) adds no frame.
        let own = Self.inlining(callSiteOffset: 5, callerID: 0, function: -1)
        let recursive = V8Code(functionCount: 0, inliningPositions: own,
                               sourcePositionTable: SourcePositionTableTests.encode([Entry(codeOffset: 0, scriptOffset: 9, inliningID: 1)]))
        #expect(recursive.inlinedFunctions(atCodeOffset: 3) == [])
        // Random bytes neither trap nor loop.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let code = V8Code(functionCount: 3, inliningPositions: bytes, sourcePositionTable: bytes)
            #expect(code.inlinedFunctions(atCodeOffset: UInt32.random(in: 0...5000, using: &generator)).count <= code.inlinings.count)
        }
    }
}
