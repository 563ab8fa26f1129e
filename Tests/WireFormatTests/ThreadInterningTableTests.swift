import Testing
@testable import WireFormat

@Suite struct ThreadInterningTableTests {
    private func key(_ pid: Int32, _ tid: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: pid)) << 32 | UInt64(UInt32(bitPattern: tid))
    }

    @Test func aThreadIsFoundUnderItsNameAndARenamedOneIsNot() {
        var table = ThreadInterningTable()
        table.set(key(0, 0), reference: 1, name: ThreadName("swapper/0"))  // key 0 is a thread like any other
        table.set(key(42, 43), reference: 2, name: ThreadName("worker"))
        #expect(table.reference(of: key(0, 0), named: ThreadName("swapper/0")) == 1)
        #expect(table.reference(of: key(42, 43), named: ThreadName("worker")) == 2)
        #expect(table.reference(of: key(42, 43), named: ThreadName("renamed")) == nil)
        #expect(table.reference(of: key(43, 42), named: ThreadName("worker")) == nil)
        table.set(key(42, 43), reference: 3, name: ThreadName("renamed"))
        #expect(table.reference(of: key(42, 43), named: ThreadName("renamed")) == 3)
        #expect(table.reference(of: key(42, 43), named: ThreadName("worker")) == nil)
        table.removeAll()
        #expect(table.reference(of: key(0, 0), named: ThreadName("swapper/0")) == nil)
    }

    /// Past the initial capacity many times over, with keys that count up as the kernel's
    /// ids do and keys that share their low bits: every thread keeps its own reference.
    @Test func everyThreadKeepsItsReferenceAsTheTableGrows() {
        var table = ThreadInterningTable()
        var keys: [UInt64] = []
        for pid in Int32(1000)..<1100 { for tid in 0..<Int32(20) { keys.append(key(pid, pid + tid)) } }
        for shift in 0..<32 { keys.append(UInt64(1) << (32 + UInt64(shift))) }
        for (index, key) in keys.enumerated() { table.set(key, reference: UInt64(index + 1), name: ThreadName("t\(index % 7)")) }
        for (index, key) in keys.enumerated() {
            #expect(table.reference(of: key, named: ThreadName("t\(index % 7)")) == UInt64(index + 1))
        }
        #expect(table.reference(of: key(5000, 5000), named: ThreadName("t0")) == nil)
    }
}
