import Profiles
import Testing
@testable import ProfileOutputs

@Suite struct ProfileAggregateTests {
    @Test func countsWeightsAndMergesIdenticalStacks() {
        let aggregate = Fixture.aggregate
        #expect(aggregate.totalSamples == Fixture.total)
        #expect(aggregate.droppedSamples == 0)
        #expect(aggregate.samplesWithoutFrames == 2)
        // Every fixture sample differs by thread, address or frames.
        #expect(aggregate.distinctStackCount == Fixture.samples.count)
        let merged = aggregate.entries.first { $0.threadID == 101 && $0.frames.first == Fixture.compute }
        #expect(merged?.count == 1)
        let heavy = aggregate.entries.first { $0.threadID == 100 && $0.frames.first == Fixture.compute }
        #expect(heavy?.count == 3)
        #expect(heavy?.frames == [Fixture.compute, Fixture.work, Fixture.spinMain])
        #expect(aggregate.firstTimestamp == 500)
        #expect(aggregate.lastTimestamp == 5_010)
    }

    @Test func identicalSamplesAddUp() {
        var aggregate = ProfileAggregate()
        for _ in 0..<1000 {
            aggregate.add(Fixture.sample(Fixture.spin, tid: 100, weight: 2, [Fixture.compute, Fixture.spinMain]))
        }
        #expect(aggregate.totalSamples == 2000)
        #expect(aggregate.distinctStackCount == 1)
        #expect(aggregate.frames.count == 2)
    }

    @Test func sameAddressInAnotherProgramIsAnotherFrame() {
        // A pid that execs another program (or is reused) may put other code at an address.
        var aggregate = ProfileAggregate()
        let before = Frame(type: .native, address: 0x401000, functionName: "old_main", mappingPath: "/usr/bin/old")
        let after = Frame(type: .native, address: 0x401000, functionName: "new_main", mappingPath: "/usr/bin/new")
        aggregate.add(Fixture.sample(Fixture.spin, tid: 100, weight: 1, [before]))
        aggregate.add(Fixture.sample(Fixture.spin, tid: 100, weight: 2, [after]))
        aggregate.add(Fixture.sample(Fixture.bash, tid: 200, weight: 4, [before]))
        #expect(aggregate.frames == [before, after])
        #expect(aggregate.entries.map { $0.frames } == [[before], [after], [before]])
        #expect(aggregate.topLeafFunctions(limit: 2).map(\.count) == [5, 2])
    }

    @Test func leafAccessors() {
        let aggregate = Fixture.aggregate
        let top = aggregate.topLeafFunctions(limit: 3)
        // Ties (1 sample each) sort by name.
        #expect(top.map(\.name) == ["compute", "readline", "copy_user_generic"])
        #expect(top.map(\.count) == [5, 4, 1])
        #expect(top[0].share == 5.0 / 14.0)
        #expect(aggregate.samplesByLeafFrameType == [.native: 11, .kernel: 1])
    }

    @Test func distinctStacksBeyondTheBoundAreCountedAsDropped() {
        var aggregate = ProfileAggregate(maximumDistinctStacks: 2)
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 1, [Fixture.compute]))
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 1, [Fixture.work]))
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 3, [Fixture.spinMain]))
        aggregate.add(Fixture.sample(Fixture.spin, tid: 2, weight: 1, [Fixture.compute]))
        // Existing cells still count when full.
        aggregate.add(Fixture.sample(Fixture.spin, tid: 1, weight: 2, [Fixture.work]))
        #expect(aggregate.distinctStackCount == 2)
        #expect(aggregate.totalSamples == 4)
        #expect(aggregate.droppedSamples == 4)
        #expect(aggregate.frames.count == 2)
    }

    @Test func mergeAddsCounts() {
        var left = Fixture.aggregate
        left.merge(Fixture.aggregate)
        #expect(left.totalSamples == 2 * Fixture.total)
        #expect(left.distinctStackCount == Fixture.aggregate.distinctStackCount)
        #expect(left.topLeafFunctions(limit: 1).first?.count == 10)
    }
}
