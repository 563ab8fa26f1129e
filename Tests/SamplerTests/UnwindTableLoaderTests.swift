import CTandemBPF
import Foundation
import Testing
import UnwindTableCompiler
import UnwindTableFormat
import WireFormat
@testable import SamplerCore
@testable import UnwindTableLoading

/// The BPF maps' contents, in memory.
final class MemoryUnwindMaps: UnwindMapStorage {
    let entryCapacity: Int
    var entries: [UInt8]
    var tables: [UInt32: tandem_unwind_table] = [:]
    var processes: [Int32: [tandem_unwind_mapping]] = [:]
    var refusesProcesses = false

    init(entryCapacity: Int) {
        self.entryCapacity = entryCapacity
        entries = [UInt8](repeating: 0, count: entryCapacity * 8)
    }

    func writeEntries(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        entries.replaceSubrange(index * 8..<index * 8 + bytes.count, with: bytes)
    }

    func writeTable(slot: UInt32, _ table: tandem_unwind_table) {
        tables[slot] = table.entry_count == 0 ? nil : table
    }

    func writeProcess(pid: Int32, _ mappings: [tandem_unwind_mapping]) -> Bool {
        if refusesProcesses { return false }
        processes[pid] = mappings.isEmpty ? nil : mappings
        return true
    }
}

@Suite struct UnwindTableLoaderTests {
    static let lsTable: [UInt8] = {
        let bytes = [UInt8](FileManager.default.contents(atPath: "/usr/bin/ls") ?? Data())
        return (try? UnwindTable.compile(elfBytes: bytes).serialized()) ?? []
    }()

    let mapping = Mapping(start: 0x5555_0000_4000, end: 0x5555_0001_8000, fileOffset: 0x4000, device: 0x803, inode: 77,
                          path: "/usr/bin/ls")

    func tableRecord(id: UInt32 = 1, bytes: [UInt8] = lsTable) -> ControlRecord {
        .unwindTable(UnwindTableRecord(tableID: id, device: 0x803, inode: 77, table: bytes))
    }

    func mappingsRecord(pid: Int32 = 42, table: UInt32 = 1, inode: UInt64 = 77) -> ControlRecord {
        .unwindMappings(UnwindMappings(pid: pid, entries: [
            UnwindMapping(start: mapping.start, end: mapping.end, tableID: table, bias: 0 &- 0x5555_0000_0000,
                          device: 0x803, inode: inode),
        ]))
    }

    @Test func aValidTableAndItsMappingAreLoaded() throws {
        let maps = MemoryUnwindMaps(entryCapacity: 1 << 16)
        let loader = UnwindTableLoader(storage: maps)
        let serialized = Self.lsTable
        let table = try UnwindTable(serialized: serialized)
        loader.apply(tableRecord()) { _ in nil }
        #expect(loader.counters.tablesLoaded == 1)
        let slot = try #require(maps.tables.first)
        #expect(slot.key >= 1)
        #expect(slot.value.base_address == table.baseAddress)
        #expect(slot.value.first_entry == 0)
        #expect(Int(slot.value.entry_count) == table.rows.count)
        #expect(Array(maps.entries[0..<table.rows.count * 8]) == Array(serialized[24...]))

        loader.apply(mappingsRecord()) { pid in pid == 42 ? [mapping] : nil }
        #expect(loader.counters.mappingsLoaded == 1)
        let loaded = try #require(maps.processes[42]?.first)
        #expect(loaded.start == mapping.start && loaded.end == mapping.end)
        #expect(loaded.table == slot.key)
        #expect(loaded.bias == 0 &- 0x5555_0000_0000)

        // A second table goes after the first one's entries.
        loader.apply(tableRecord(id: 2)) { _ in nil }
        #expect(maps.tables.values.map(\.first_entry).sorted() == [0, UInt32(table.rows.count)])
        #expect(loader.counters.entriesUsed == UInt64(2 * table.rows.count))

        // Exit removes the process, a new connection everything.
        loader.remove(pid: 42)
        #expect(maps.processes.isEmpty)
        loader.apply(mappingsRecord()) { _ in [mapping] }
        loader.reset()
        #expect(maps.processes.isEmpty && maps.tables.isEmpty)
        #expect(loader.counters.entriesUsed == 0)
    }

    @Test func invalidTablesAreRejectedBeforeAnythingIsWritten() {
        let maps = MemoryUnwindMaps(entryCapacity: 1 << 16)
        let loader = UnwindTableLoader(storage: maps)
        var corrupt = Self.lsTable
        corrupt[24 + 8 * 5 + 4] = 0x07  // CFA kind 7: invalid
        var unsorted = Self.lsTable
        unsorted[24 + 8 * 3] = 0xFF; unsorted[24 + 8 * 3 + 1] = 0xFF; unsorted[24 + 8 * 3 + 2] = 0xFF
        for bytes in [corrupt, unsorted, Array(Self.lsTable.dropLast(8)), Array(Self.lsTable.prefix(23)), []] {
            loader.apply(tableRecord(bytes: bytes)) { _ in nil }
        }
        #expect(loader.counters.tablesRejected == 5)
        #expect(loader.counters.tablesLoaded == 0)
        #expect(maps.tables.isEmpty)
        #expect(maps.entries.allSatisfy { $0 == 0 })
        #expect(loader.lastRejection?.contains("table 1") == true)
    }

    @Test func unusedTablesAreEvictedOldestFirstToMakeRoom() throws {
        let entries = try UnwindTable(serialized: Self.lsTable).rows.count
        // Room for two tables, not three.
        let maps = MemoryUnwindMaps(entryCapacity: 2 * entries + entries / 2)
        let loader = UnwindTableLoader(storage: maps)
        let known: (Int32) -> [Mapping]? = { [mapping] _ in [mapping] }
        loader.beginBatch()
        loader.apply(tableRecord(id: 1), knownMappings: known)
        loader.apply(tableRecord(id: 2), knownMappings: known)
        loader.apply(mappingsRecord(pid: 42, table: 2), knownMappings: known)
        // A later batch: table 1 is unused and older, table 2 is used by pid 42.
        loader.beginBatch()
        loader.apply(tableRecord(id: 3), knownMappings: known)
        #expect(loader.counters.tablesLoaded == 3)
        #expect(loader.counters.tablesEvicted == 1)
        #expect(loader.takeEvictedTables() == [1])
        #expect(loader.takeEvictedTables().isEmpty)
        // Table 3 took table 1's entries.
        #expect(maps.tables.values.map(\.first_entry).sorted() == [0, UInt32(entries)])
        #expect(loader.counters.entriesUsed == UInt64(2 * entries))

        // Both tables in use (pid 43 uses table 3): a fourth does not fit and nothing is evicted.
        loader.apply(mappingsRecord(pid: 43, table: 3), knownMappings: known)
        loader.beginBatch()
        loader.apply(tableRecord(id: 4), knownMappings: known)
        #expect(loader.counters.tablesRejected == 1)
        #expect(loader.lastRejection?.contains("raise --unwind-table-entries") == true)
        #expect(loader.takeEvictedTables().isEmpty)

        // Pid 42 exits: table 2 is unused and goes for table 5.
        loader.remove(pid: 42)
        loader.beginBatch()
        loader.apply(tableRecord(id: 5), knownMappings: known)
        #expect(loader.takeEvictedTables() == [2])
        #expect(maps.processes[43]?.first?.table == maps.tables.first { $0.value.first_entry == 0 }?.key)
    }

    @Test func tablesOfTheBatchBeingAppliedAreNotEvicted() throws {
        let entries = try UnwindTable(serialized: Self.lsTable).rows.count
        let maps = MemoryUnwindMaps(entryCapacity: entries + entries / 2)
        let loader = UnwindTableLoader(storage: maps)
        loader.beginBatch()
        loader.apply(tableRecord(id: 1)) { _ in nil }
        // Same batch: table 1 waits for its mappings, so table 2 is refused.
        loader.apply(tableRecord(id: 2)) { _ in nil }
        #expect(loader.counters.tablesRejected == 1)
        #expect(loader.takeEvictedTables().isEmpty)
    }

    @Test func releasedEntriesAreReusedAndCoalesced() throws {
        let entries = try UnwindTable(serialized: Self.lsTable).rows.count
        let maps = MemoryUnwindMaps(entryCapacity: 3 * entries)
        let loader = UnwindTableLoader(storage: maps)
        for id: UInt32 in 1...3 { loader.apply(tableRecord(id: id)) { _ in nil } }
        #expect(loader.counters.entriesUsed == UInt64(3 * entries))
        // Releasing the first two leaves one free range of twice the size (coalesced)...
        loader.apply(.releaseUnwindTable(tableID: 2)) { _ in nil }
        loader.apply(.releaseUnwindTable(tableID: 1)) { _ in nil }
        #expect(loader.counters.entriesUsed == UInt64(entries))
        // ...which two new tables fill; nothing is evicted for them.
        loader.beginBatch()
        loader.apply(tableRecord(id: 4)) { _ in nil }
        loader.apply(tableRecord(id: 5)) { _ in nil }
        #expect(loader.counters.tablesLoaded == 5)
        #expect(loader.counters.tablesRejected == 0)
        #expect(loader.counters.tablesEvicted == 0)
        #expect(maps.tables.values.map(\.first_entry).sorted() == [0, UInt32(entries), UInt32(2 * entries)])
    }

    @Test func budgetsAreKept() throws {
        let entries = try UnwindTable(serialized: Self.lsTable).rows.count
        // The shared array holds one table, not two.
        let maps = MemoryUnwindMaps(entryCapacity: entries + entries / 2)
        let loader = UnwindTableLoader(storage: maps)
        loader.apply(tableRecord(id: 1)) { _ in nil }
        loader.apply(tableRecord(id: 2)) { _ in nil }
        #expect(loader.counters.tablesLoaded == 1)
        #expect(loader.counters.tablesRejected == 1)
        #expect(loader.lastRejection?.contains("do not fit") == true)
        // The same id twice.
        loader.apply(tableRecord(id: 1)) { _ in nil }
        #expect(loader.counters.tablesRejected == 2)

        // Per-table budget.
        var small = UnwindTableLoader.Budgets()
        small.entriesPerTable = entries - 1
        let strict = UnwindTableLoader(storage: MemoryUnwindMaps(entryCapacity: 1 << 16), budgets: small)
        strict.apply(tableRecord()) { _ in nil }
        #expect(strict.counters.tablesRejected == 1)

        // Table slots: two budgeted slots leave one usable (slot 0 is never used).
        var twoSlots = UnwindTableLoader.Budgets()
        twoSlots.tables = 2
        let few = UnwindTableLoader(storage: MemoryUnwindMaps(entryCapacity: 1 << 16), budgets: twoSlots)
        few.apply(tableRecord(id: 1)) { _ in nil }
        few.apply(tableRecord(id: 2)) { _ in nil }
        #expect(few.counters.tablesLoaded == 1)
        few.apply(.releaseUnwindTable(tableID: 1)) { _ in nil }
        few.apply(tableRecord(id: 3)) { _ in nil }
        #expect(few.counters.tablesLoaded == 2)
    }

    @Test func mappingsMustMatchALoadedTableAndAMappingTheSamplerKnows() {
        let maps = MemoryUnwindMaps(entryCapacity: 1 << 16)
        let loader = UnwindTableLoader(storage: maps)
        loader.apply(tableRecord()) { _ in nil }
        loader.apply(mappingsRecord(table: 9)) { _ in [mapping] }            // no such table
        loader.apply(mappingsRecord(inode: 78)) { _ in [mapping] }           // not the table's file
        loader.apply(mappingsRecord()) { _ in nil }                           // unknown process
        var moved = mapping
        moved.start += 0x1000
        loader.apply(mappingsRecord()) { _ in [moved] }                       // not a mapping it knows
        #expect(loader.counters.mappingsRejected == 4)
        #expect(loader.counters.mappingsLoaded == 0)
        #expect(maps.processes.isEmpty)

        // More mappings than a process may have: the first ones are kept.
        var budgets = UnwindTableLoader.Budgets()
        budgets.mappingsPerProcess = 2
        let bounded = UnwindTableLoader(storage: maps, budgets: budgets)
        bounded.apply(tableRecord()) { _ in nil }
        let known: [Mapping] = [0x1000, 0x3000, 0x5000].map { (start: UInt64) in
            Mapping(start: start, end: start + 0x1000, fileOffset: 0, device: 0x803, inode: 77, path: "/usr/bin/ls")
        }
        bounded.apply(.unwindMappings(UnwindMappings(pid: 7, entries: known.map {
            UnwindMapping(start: $0.start, end: $0.end, tableID: 1, bias: 0, device: 0x803, inode: 77)
        }))) { _ in known }
        #expect(maps.processes[7]?.count == 2)
        #expect(bounded.counters.mappingsRejected == 1)

        // The BPF map refuses (full): counted.
        maps.refusesProcesses = true
        bounded.apply(.unwindMappings(UnwindMappings(pid: 8, entries: [
            UnwindMapping(start: known[0].start, end: known[0].end, tableID: 1, bias: 0, device: 0x803, inode: 77),
        ]))) { _ in known }
        #expect(bounded.counters.mappingsRejected == 2)
    }
}
