import Foundation
import Profiles
import Testing
@testable import ProfileOutputs

/// Threads by their own names: grouping the text outputs by thread, the pprof label,
/// and merging profiles that hold thread names.
@Suite struct ThreadGroupingTests {
    static func named(_ tid: Int32, _ name: String, weight: Int) -> SymbolizedSample {
        var sample = Fixture.sample(Fixture.spin, tid: tid, weight: weight, [Fixture.compute, Fixture.spinMain])
        sample.threadName = name
        return sample
    }

    /// The main thread, two pool threads with one name, and a thread from a stream without names.
    static var samples: [SymbolizedSample] {
        [named(100, "spin", weight: 3), named(101, "worker", weight: 2), named(102, "worker", weight: 1),
         named(103, "", weight: 1)]
    }

    static var aggregate: ProfileAggregate {
        var aggregate = ProfileAggregate()
        aggregate.add(contentsOf: samples)
        return aggregate
    }

    @Test func byProcessThreadsAddUp() {
        #expect(FoldedStacksWriter().lines(for: Self.aggregate) == ["spin;main;compute 7"])
    }

    @Test func byThreadAPoolAddsUpByNameAndAnUnnamedThreadTakesItsProcesssName() {
        let lines = FoldedStacksWriter(style: StackPathStyle(groupsByThread: true)).lines(for: Self.aggregate)
        #expect(lines == ["spin;spin;main;compute 4", "spin;worker;main;compute 3"])
        let withIDs = FoldedStacksWriter(style: StackPathStyle(includesPID: true, groupsByThread: true))
            .lines(for: Self.aggregate)
        #expect(withIDs == ["spin-100;spin-100;main;compute 3", "spin-100;spin-103;main;compute 1",
                            "spin-100;worker-101;main;compute 2", "spin-100;worker-102;main;compute 1"])
    }

    @Test func aMergedProfileKeepsThreadNames() {
        var merged = ProfileAggregate()
        merged.add(Self.named(200, "other", weight: 1))
        merged.merge(Self.aggregate)
        let lines = FoldedStacksWriter(style: StackPathStyle(groupsByThread: true)).lines(for: merged)
        #expect(lines == ["spin;other;main;compute 1", "spin;spin;main;compute 4", "spin;worker;main;compute 3"])
        #expect(merged.entries.map(\.threadName).sorted() == ["", "other", "spin", "worker", "worker"])
    }

    @Test func theFlameGraphShowsThreadsUnderTheirProcess() throws {
        let svg = FlameGraphSVG(style: StackPathStyle(groupsByThread: true)).render(Self.aggregate)
        #expect(svg.contains(">worker<") || svg.contains("worker ("))
        #expect(svg.contains("thread"))
    }

    @Test func pprofCarriesTheThreadNameLabel() throws {
        let path = temporaryPath("threads.pb.gz")
        try PprofWriter(samplesPerSecond: 99, startTimeUnixNano: 0, durationNanos: 1_000_000_000, comments: [])
            .write(Self.aggregate, toFile: path)
        let traces = PprofWriterTests.parseTraces(try PprofWriterTests.pprof(["-traces", "-sample_index=samples"], path))
        let byTID = Dictionary(uniqueKeysWithValues: traces.map { ($0.labels["tid"] ?? "", $0.labels["thread_name"] ?? "(none)") })
        #expect(byTID == ["100": "spin", "101": "worker", "102": "worker", "103": "(none)"])
    }
}
