@testable import AggregatorCore
import Testing

@Suite("unwind-table compile queue: the hottest file first")
struct CompileQueueTests {
    static func file(_ inode: UInt64) -> FileIdentity { FileIdentity(device: 1, inode: inode) }

    /// The names of the jobs in the order free workers take them, none large running.
    static func drained(_ queue: inout CompileQueue<String>) -> [String] {
        var order: [String] = []
        while let next = queue.takeNext(largeJobRunning: false) { order.append(next.job) }
        return order
    }

    @Test("without samples waiting: the smallest first, the oldest of equals")
    func smallestThenOldest() {
        var queue = CompileQueue<String>()
        queue.append("big", identity: Self.file(1), size: 900, isLarge: false)
        queue.append("small", identity: Self.file(2), size: 100, isLarge: false)
        queue.append("small, later", identity: Self.file(3), size: 100, isLarge: false)
        #expect(Self.drained(&queue) == ["small", "small, later", "big"])
        #expect(queue.isEmpty)
    }

    @Test("the file the most samples wait for goes first, whatever its size")
    func demandFirst() {
        var queue = CompileQueue<String>()
        queue.append("libjvm", identity: Self.file(1), size: 20 << 20, isLarge: false)
        queue.append("cc1", identity: Self.file(2), size: 30 << 20, isLarge: false)
        queue.append("ls", identity: Self.file(3), size: 100 << 10, isLarge: false)
        for _ in 0..<5 { queue.noteDemand(for: Self.file(1)) }
        for _ in 0..<2 { queue.noteDemand(for: Self.file(2)) }
        #expect(Self.drained(&queue) == ["libjvm", "cc1", "ls"])
    }

    @Test("demand for a file not queued is not kept: a later compile of it starts from none")
    func demandOnlyWhileQueued() {
        var queue = CompileQueue<String>()
        queue.noteDemand(for: Self.file(1))
        queue.append("a", identity: Self.file(1), size: 500, isLarge: false)
        queue.append("b", identity: Self.file(2), size: 100, isLarge: false)
        #expect(Self.drained(&queue) == ["b", "a"])
        queue.append("a", identity: Self.file(1), size: 500, isLarge: false)
        queue.noteDemand(for: Self.file(1))
        #expect(queue.takeNext(largeJobRunning: false)?.job == "a")
        // Taken: its demand is gone with it.
        queue.noteDemand(for: Self.file(1))
        queue.append("a again", identity: Self.file(1), size: 500, isLarge: false)
        queue.append("c", identity: Self.file(3), size: 100, isLarge: false)
        #expect(Self.drained(&queue) == ["c", "a again"])
    }

    @Test("a large compile waits while another large one runs, however hot; the others go on")
    func oneLargeAtATime() {
        var queue = CompileQueue<String>()
        queue.append("large", identity: Self.file(1), size: 64 << 20, isLarge: true)
        queue.append("small", identity: Self.file(2), size: 100, isLarge: false)
        for _ in 0..<10 { queue.noteDemand(for: Self.file(1)) }
        #expect(queue.takeNext(largeJobRunning: true)?.job == "small")
        #expect(queue.takeNext(largeJobRunning: true) == nil)
        #expect(queue.takeNext(largeJobRunning: false)?.job == "large")
    }

    @Test("the caller's own thread takes the oldest job")
    func firstForTheCaller() {
        var queue = CompileQueue<String>()
        queue.append("first", identity: Self.file(1), size: 900, isLarge: true)
        queue.append("second", identity: Self.file(2), size: 1, isLarge: false)
        queue.noteDemand(for: Self.file(2))
        #expect(queue.takeFirst()?.job == "first")
        #expect(queue.takeFirst()?.job == "second")
        #expect(queue.takeFirst() == nil)
    }
}
