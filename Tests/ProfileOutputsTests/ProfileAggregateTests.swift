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
        #expect(left.samplesWithoutFrames == 2 * Fixture.aggregate.samplesWithoutFrames)
        let doubled = Fixture.aggregate.entries.map { Cell($0, count: 2 * $0.count) }
        #expect(left.entries.map { Cell($0) } == doubled)
    }

    @Test func mergeIntoAnEmptyProfileKeepsEveryCellAndItsOwnBound() {
        var run = ProfileAggregate(maximumDistinctStacks: 100)
        run.merge(Fixture.aggregate)
        #expect(run.maximumDistinctStacks == 100)
        #expect(run.entries.map { Cell($0) } == Fixture.aggregate.entries.map { Cell($0) })
        #expect(run.totalSamples == Fixture.total)
        #expect(run.topLeafFunctions(limit: 3) == Fixture.aggregate.topLeafFunctions(limit: 3))
        #expect(run.firstTimestamp == 500 && run.lastTimestamp == 5_010)
    }

    @Test func mergeOfProfilesWithOtherIDsMapsEveryCell() {
        // The two profiles meet processes and frames in different orders, so their ids differ.
        var left = ProfileAggregate()
        left.add(Fixture.sample(Fixture.bash, tid: 200, weight: 1, [Fixture.readline, Fixture.bashMain]))
        var right = ProfileAggregate()
        right.add(Fixture.sample(Fixture.spin, tid: 100, weight: 2, [Fixture.compute, Fixture.spinMain]))
        right.add(Fixture.sample(Fixture.bash, tid: 200, weight: 3, [Fixture.readline, Fixture.bashMain]))
        left.merge(right)
        #expect(left.entries.map { Cell($0) } == [
            Cell(pid: 200, thread: 200, frames: [Fixture.readline, Fixture.bashMain], count: 4),
            Cell(pid: 100, thread: 100, frames: [Fixture.compute, Fixture.spinMain], count: 2),
        ])
        #expect(left.topLeafFunctions(limit: 2).map(\.count) == [4, 2])
    }

    @Test func mergePastTheBoundCountsEverySampleAsKeptOrDropped() {
        var left = ProfileAggregate(maximumDistinctStacks: 3)
        left.add(Fixture.sample(Fixture.spin, tid: 100, weight: 1, [Fixture.compute, Fixture.work, Fixture.spinMain]))
        // A stream's profile that already dropped one sample at its own bound.
        let droppedBefore = Int64(1)
        var bounded = ProfileAggregate(maximumDistinctStacks: Fixture.samples.count)
        bounded.add(contentsOf: Fixture.samples)
        bounded.add(Fixture.sample(Fixture.spin, tid: 1, weight: 1, [Fixture.work]))
        #expect(bounded.droppedSamples == droppedBefore)
        left.merge(bounded)
        #expect(left.distinctStackCount == 3)
        #expect(left.totalSamples + left.droppedSamples == 1 + Fixture.total + droppedBefore)
        // The cell both had gained the other's 3 samples; two more cells fitted.
        #expect(left.entries.first?.count == 4)
        #expect(left.droppedSamples > droppedBefore)
    }
}

/// An entry's comparable fields.
private struct Cell: Equatable {
    var pid: Int32
    var thread: Int32
    var frames: [Frame]
    var count: Int64

    init(pid: Int32, thread: Int32, frames: [Frame], count: Int64) {
        self.pid = pid
        self.thread = thread
        self.frames = frames
        self.count = count
    }

    init(_ entry: ProfileAggregate.Entry, count: Int64? = nil) {
        self.init(pid: entry.process.pid, thread: entry.threadID, frames: entry.frames, count: count ?? entry.count)
    }
}
