import Testing
@testable import SamplerCore

@Suite("recent exits")
struct RecentExitsTests {
    @Test("an exit is known for the drain it came in and the next one, then forgotten")
    func twoDrains() {
        var exits = RecentExits()
        exits.note(42, .init(time: 100, reported: true))
        exits.note(43, .init(time: 200, reported: false))
        #expect(exits.exit(of: 42)?.reported == true)
        #expect(exits.exit(of: 43)?.reported == false)
        #expect(exits.exit(of: 43)?.time == 200)
        #expect(exits.exit(of: 44) == nil)
        exits.age()
        #expect(exits.exit(of: 42)?.time == 100, "the next drain still knows it")
        // Reported in the next drain, from a late sample: the newer note wins.
        exits.note(43, .init(time: 200, reported: true))
        #expect(exits.exit(of: 43)?.reported == true)
        exits.age()
        #expect(exits.exit(of: 42) == nil, "two drains on: a pid seen now is a new process")
        #expect(exits.exit(of: 43)?.reported == true)
        exits.age()
        #expect(exits.exit(of: 43) == nil)
    }

    @Test("an exec of the pid (a new process that reused it) forgets its exit")
    func execForgets() {
        var exits = RecentExits()
        exits.note(42, .init(time: 100, reported: true))
        exits.age()
        exits.note(43, .init(time: 200, reported: true))
        exits.forget(42)
        exits.forget(43)
        #expect(exits.exit(of: 42) == nil)
        #expect(exits.exit(of: 43) == nil)
    }
}
