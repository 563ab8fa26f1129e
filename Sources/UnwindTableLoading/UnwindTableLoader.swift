import CTandemBPF
import UnwindTableFormat
import WireFormat

/// Where loaded unwind tables go: the BPF maps (`BPFUnwindMaps`), or a test's memory.
package protocol UnwindMapStorage: AnyObject {
    /// Room in the shared entries array, in 8-byte entries.
    var entryCapacity: Int { get }
    /// Copies serialized entries (8 bytes each) to entries `index...`.
    func writeEntries(_ entries: UnsafeRawBufferPointer, at index: Int)
    /// Sets table slot `slot` (entry count 0 clears it).
    func writeTable(slot: UInt32, _ table: tandem_unwind_table)
    /// Sets or (with no mappings) removes the mappings of `pid`; false if the map refused.
    func writeProcess(pid: Int32, _ mappings: [tandem_unwind_mapping]) -> Bool
}

/// Validates the aggregator's unwind tables and mappings and loads them into the BPF
/// maps. The sampler parses no ELF: a table is the serialized format of
/// docs/unwind-tables.md, checked by `UnwindTable(serialized:)` (sizes, sorted offsets,
/// canonical rules, last row no-info) before a byte of it reaches a map, and within
/// the budgets below. Every rejection is counted.
///
/// The maps are bounded, a host's files are not: when a table does not fit, tables
/// no process uses any more are evicted, oldest first, and reported to the
/// aggregator (`evictedTables`), which sends them again if a process needs them.
package final class UnwindTableLoader {
    /// The BPF table unwinder's counters for the stop log: why walks stopped, and how
    /// frames were found.
    package static func walkSummary(counter: (tandem_counter) -> UInt64) -> (stops: String, frames: String) {
        let stops: [(String, tandem_counter)] = [
            ("unsupported", TANDEM_COUNTER_UNWIND_STOP_UNSUPPORTED), ("read", TANDEM_COUNTER_UNWIND_STOP_READ),
            ("frame_pointer", TANDEM_COUNTER_UNWIND_STOP_FRAME_POINTER),
            ("stack_order", TANDEM_COUNTER_UNWIND_STOP_STACK_ORDER), ("depth", TANDEM_COUNTER_UNWIND_STOP_DEPTH),
        ]
        return (stops.map { "\($0.0)=\(counter($0.1))" }.joined(separator: " "),
                "table=\(counter(TANDEM_COUNTER_UNWIND_TABLE_FRAMES)) frame_pointer=\(counter(TANDEM_COUNTER_UNWIND_FP_FRAMES))")
    }

    package struct Budgets {
        /// Most entries of one table.
        package var entriesPerTable = 1 << 21
        /// Table slots (the BPF index array's size).
        package var tables = Int(TANDEM_UNWIND_MAX_TABLES)
        /// Mappings with a table per process (the BPF value's array).
        package var mappingsPerProcess = Int(TANDEM_UNWIND_MAX_MAPPINGS)
        /// Processes with tables (the BPF hash map's size).
        package var processes = Int(TANDEM_UNWIND_MAX_PROCESSES)
    }

    package struct Counters: Equatable {
        package var tablesLoaded: UInt64 = 0
        package var tablesRejected: UInt64 = 0
        package var mappingsLoaded: UInt64 = 0
        package var mappingsRejected: UInt64 = 0
        package var controlErrors: UInt64 = 0
        /// Entries in use in the shared array.
        package var entriesUsed: UInt64 = 0
        package var tablesEvicted: UInt64 = 0
    }

    private struct LoadedTable {
        var slot: UInt32
        var device: UInt64
        var inode: UInt64
        var entries: Range<Int>
        /// Load order, for evicting the oldest first.
        var generation: UInt64
    }

    package let budgets: Budgets
    private let storage: UnwindMapStorage
    package private(set) var counters = Counters()

    /// The unwind counters of a statistics record: the loader's, and the BPF walker's
    /// (`counter` reads the BPF side's; nil before the program is loaded).
    package func addStatistics(to values: inout StatisticsCounters, counter: ((tandem_counter) -> UInt64)?) {
        values[.unwindTablesLoaded] = counters.tablesLoaded
        values[.unwindTablesRejected] = counters.tablesRejected
        values[.unwindMappingsLoaded] = counters.mappingsLoaded
        values[.unwindMappingsRejected] = counters.mappingsRejected
        values[.controlStreamErrors] = counters.controlErrors
        values[.unwindEntriesUsed] = counters.entriesUsed
        values[.unwindTablesEvicted] = counters.tablesEvicted
        guard let counter else { return }
        values[.unwindStacks] = counter(TANDEM_COUNTER_UNWIND_STACKS)
        values[.unwindStacksReachedRoot] = counter(TANDEM_COUNTER_UNWIND_ROOT)
        values[.unwindStacksTruncated] = counter(TANDEM_COUNTER_UNWIND_TRUNCATED)
    }

    /// The last rejection's cause, for the log.
    package private(set) var lastRejection: String?
    private var tables: [UInt32: LoadedTable] = [:]
    private var freeSlots: [UInt32]
    /// Free ranges of the shared entries array, sorted and coalesced.
    private var freeEntries: [Range<Int>]
    private var nextGeneration: UInt64 = 0
    /// Tables loaded before this generation may be evicted: the ones of the batch
    /// being applied wait for the mappings that will use them.
    private var evictableBefore: UInt64 = 0
    /// The processes with mappings in the BPF map, and the tables those mappings use.
    private var tablesOfProcess: [Int32: [UInt32]] = [:]
    /// Tables evicted since the last `takeEvictedTables()`.
    private var evicted: [UInt32] = []

    /// Within the BPF maps' own bounds.
    package convenience init(storage: UnwindMapStorage) {
        self.init(storage: storage, budgets: Budgets())
    }

    init(storage: UnwindMapStorage, budgets: Budgets) {
        self.storage = storage
        self.budgets = budgets
        // Slot 0 is never used, so a zeroed mapping names no table.
        self.freeSlots = (1..<UInt32(max(1, budgets.tables))).reversed()
        self.freeEntries = storage.entryCapacity > 0 ? [0..<storage.entryCapacity] : []
    }

    /// Forgets every table and process: a new connection starts over (its table ids are its own).
    package func reset() {
        for pid in tablesOfProcess.keys { _ = storage.writeProcess(pid: pid, []) }
        tablesOfProcess.removeAll()
        for table in tables.values { storage.writeTable(slot: table.slot, tandem_unwind_table()) }
        tables.removeAll()
        freeSlots = (1..<UInt32(max(1, budgets.tables))).reversed()
        freeEntries = storage.entryCapacity > 0 ? [0..<storage.entryCapacity] : []
        evicted.removeAll()
        counters.entriesUsed = 0
    }

    /// Marks the start of a batch of control records (one read from the socket): the
    /// tables it loads are not evicted while it is applied.
    package func beginBatch() {
        evictableBefore = nextGeneration
    }

    /// The tables evicted since the last call, to report to the aggregator.
    package func takeEvictedTables() -> [UInt32] {
        defer { evicted.removeAll() }
        return evicted
    }

    /// Applies one control record. `knownMappings` gives the sampler's own view of a
    /// process's executable mappings, which every unwind mapping must match.
    package func apply(_ record: ControlRecord, knownMappings: (Int32) -> [Mapping]?) {
        switch record {
        case .unwindTable(let table): load(table)
        case .unwindMappings(let set): load(set, known: knownMappings(set.pid))
        case .releaseUnwindTable(let id): unload(id)
        // Answered by `FileRequestAnswerer`, not a table matter.
        case .fileRequest, .cpythonProcess, .perlProcess, .rubyProcess, .phpProcess, .v8Process, .hotspotProcess, .beamProcess,
             .unknown: break
        }
    }

    /// The process exited: its mappings go (its tables stay, other processes may share them).
    package func remove(pid: Int32) {
        if tablesOfProcess.removeValue(forKey: pid) != nil { _ = storage.writeProcess(pid: pid, []) }
    }

    package func noteControlError(_ error: ControlStreamError) {
        counters.controlErrors += 1
        lastRejection = "\(error)"
    }

    private func reject(table reason: String) {
        counters.tablesRejected += 1
        lastRejection = reason
    }

    private func load(_ record: UnwindTableRecord) {
        guard tables[record.tableID] == nil else {
            return reject(table: "table \(record.tableID) sent twice")
        }
        let table: UnwindTable
        do {
            table = try UnwindTable(serialized: record.table)
        } catch {
            return reject(table: "table \(record.tableID): \(error)")
        }
        let entryCount = table.rowCount
        guard entryCount <= budgets.entriesPerTable else {
            return reject(table: "table \(record.tableID): \(entryCount) entries, above the per-table budget \(budgets.entriesPerTable)")
        }
        // Room: a free range and a slot, evicting unused tables until there is.
        var range = allocateEntries(entryCount)
        while range == nil || freeSlots.isEmpty {
            guard evictOldestUnusedTable() else {
                if let range { freeEntries(range) }
                let used = storage.entryCapacity - freeEntries.reduce(0) { $0 + $1.count }
                return reject(table: range == nil
                    ? "table \(record.tableID): \(entryCount) entries do not fit (\(used) of \(storage.entryCapacity) used by tables in use); raise --unwind-table-entries"
                    : "table \(record.tableID): all \(budgets.tables - 1) table slots in use")
            }
            if range == nil { range = allocateEntries(entryCount) }
        }
        guard let range, let slot = freeSlots.popLast() else { return }
        record.table.withUnsafeBytes { bytes in
            storage.writeEntries(UnsafeRawBufferPointer(rebasing: bytes[UnwindTable.headerSize...]), at: range.lowerBound)
        }
        storage.writeTable(slot: slot, tandem_unwind_table(base_address: table.baseAddress, first_entry: UInt32(range.lowerBound),
                                                           entry_count: UInt32(entryCount)))
        counters.entriesUsed += UInt64(entryCount)
        tables[record.tableID] = LoadedTable(slot: slot, device: record.device, inode: record.inode, entries: range,
                                             generation: nextGeneration)
        nextGeneration += 1
        counters.tablesLoaded += 1
    }

    /// First fit in the free ranges.
    private func allocateEntries(_ count: Int) -> Range<Int>? {
        guard let index = freeEntries.firstIndex(where: { $0.count >= count }) else { return nil }
        let free = freeEntries[index]
        let allocated = free.lowerBound..<free.lowerBound + count
        if allocated.upperBound == free.upperBound {
            freeEntries.remove(at: index)
        } else {
            freeEntries[index] = allocated.upperBound..<free.upperBound
        }
        return allocated
    }

    /// Returns `range` to the free ranges, merged with its neighbours.
    private func freeEntries(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let index = freeEntries.firstIndex { $0.lowerBound > range.lowerBound } ?? freeEntries.endIndex
        var merged = range
        var removeFrom = index
        var removeTo = index
        if index > freeEntries.startIndex, freeEntries[index - 1].upperBound == range.lowerBound {
            merged = freeEntries[index - 1].lowerBound..<merged.upperBound
            removeFrom = index - 1
        }
        if index < freeEntries.endIndex, freeEntries[index].lowerBound == range.upperBound {
            merged = merged.lowerBound..<freeEntries[index].upperBound
            removeTo = index + 1
        }
        freeEntries.replaceSubrange(removeFrom..<removeTo, with: [merged])
    }

    /// Evicts the oldest table that no process uses (and that the batch being applied
    /// did not load); false if there is none.
    private func evictOldestUnusedTable() -> Bool {
        let used = Set(tablesOfProcess.values.joined())
        let candidate = tables.filter { !used.contains($0.key) && $0.value.generation < evictableBefore }
            .min { $0.value.generation < $1.value.generation }
        guard let (id, _) = candidate else { return false }
        unload(id)
        evicted.append(id)
        counters.tablesEvicted += 1
        return true
    }

    /// Clears a table's slot and frees its slot and entries.
    private func unload(_ id: UInt32) {
        guard let table = tables.removeValue(forKey: id) else { return }
        storage.writeTable(slot: table.slot, tandem_unwind_table())
        freeSlots.append(table.slot)
        freeEntries(table.entries)
        counters.entriesUsed -= UInt64(table.entries.count)
    }

    private func load(_ set: UnwindMappings, known: [Mapping]?) {
        var accepted: [tandem_unwind_mapping] = []
        var acceptedTables: [UInt32] = []
        for entry in set.entries {
            guard accepted.count < budgets.mappingsPerProcess,
                  let table = tables[entry.tableID], table.device == entry.device, table.inode == entry.inode,
                  let known, known.contains(where: {
                      $0.start == entry.start && $0.end == entry.end && $0.device == entry.device && $0.inode == entry.inode
                  })
            else {
                counters.mappingsRejected += 1
                lastRejection = "pid \(set.pid): mapping \(String(entry.start, radix: 16))-\(String(entry.end, radix: 16)) does not match a loaded table and a mapping the sampler knows"
                continue
            }
            accepted.append(tandem_unwind_mapping(start: entry.start, end: entry.end, bias: entry.bias,
                                                  table: table.slot, reserved: 0))
            acceptedTables.append(entry.tableID)
        }
        if accepted.isEmpty {
            remove(pid: set.pid)
            return
        }
        guard tablesOfProcess[set.pid] != nil || tablesOfProcess.count < budgets.processes,
              storage.writeProcess(pid: set.pid, accepted) else {
            counters.mappingsRejected += UInt64(accepted.count)
            lastRejection = "pid \(set.pid): no room for another process with unwind tables"
            return
        }
        tablesOfProcess[set.pid] = acceptedTables
        counters.mappingsLoaded += UInt64(accepted.count)
    }
}
