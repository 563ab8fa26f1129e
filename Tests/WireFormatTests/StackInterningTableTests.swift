import Testing
@testable import WireFormat

@Suite struct StackInterningTableTests {
    private func lookup(_ table: StackInterningTable, _ frames: [UInt64]) -> UInt64? {
        frames.withUnsafeBufferPointer { table.id(of: $0) }
    }

    private func insert(_ table: inout StackInterningTable, _ frames: [UInt64], id: UInt64) {
        frames.withUnsafeBufferPointer { table.insert($0, id: id) }
    }

    @Test func stacksThatShareADigestKeepTheirOwnIDs() {
        // Every stack has the same digest: each lookup must compare frames.
        var table = StackInterningTable(digestMask: 0)
        let stacks: [[UInt64]] = [[1, 2, 3], [1, 2], [3, 2, 1], [], [1, 2, 4]]
        for (index, stack) in stacks.enumerated() { insert(&table, stack, id: UInt64(index + 1)) }
        for (index, stack) in stacks.enumerated() {
            #expect(lookup(table, stack) == UInt64(index + 1), "\(stack)")
        }
        #expect(lookup(table, [1, 2, 3, 4]) == nil)
        #expect(lookup(table, [2]) == nil)
    }

    @Test func removeAllForgetsEveryStack() {
        var table = StackInterningTable()
        insert(&table, [0xdead, 0xbeef], id: 7)
        #expect(lookup(table, [0xdead, 0xbeef]) == 7)
        table.removeAll()
        #expect(lookup(table, [0xdead, 0xbeef]) == nil)
    }

    @Test func aStackIsFoundByItsFramesNotByWhereTheyLie() {
        var table = StackInterningTable()
        var generator = SystemRandomNumberGenerator()
        var stacks: [[UInt64]] = []
        for id in 1...2_000 {
            let stack = (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt64.random(in: 0...0xffff, using: &generator) }
            if lookup(table, stack) != nil { continue }
            insert(&table, stack, id: UInt64(id))
            stacks.append(stack)
        }
        for stack in stacks {
            let copy = Array(stack)  // other storage, same frames
            #expect(lookup(table, copy) != nil)
        }
        #expect(Set(stacks.map { lookup(table, $0)! }).count == stacks.count)
    }
}
