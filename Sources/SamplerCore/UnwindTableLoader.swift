import CTandemBPF
import UnwindTables
import WireFormat

/// Where loaded unwind tables go: the BPF maps (`BPFUnwindMaps`), or a test's memory.
protocol UnwindMapStorage: AnyObject {
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
final class UnwindTableLoader {
    struct Budgets {
        /// Most entries of one table.
        var entriesPerTable = 1 << 21
        /// Table slots (the BPF index array's size).
        var tables = Int(TANDEM_UNWIND_MAX_TABLES)
        /// Mappings with a table per process (the BPF value's array).
        var mappingsPerProcess = Int(TANDEM_UNWIND_MAX_MAPPINGS)
        /// Processes with tables (the BPF hash map's size).
        var processes = Int(TANDEM_UNWIND_MAX_PROCESSES)
    }

    struct Counters: Equatable {
        var tablesLoaded: UInt64 = 0
        var tablesRejected: UInt64 = 0
        var mappingsLoaded: UInt64 = 0
        var mappingsRejected: UInt64 = 0
        var controlErrors: UInt64 = 0
        /// Entries in use in the shared array (space of released tables is not reused
        /// until the next connection).
        var entriesUsed: UInt64 = 0
    }

    private struct LoadedTable {
        var slot: UInt32
        var device: UInt64
        var inode: UInt64
    }

    let budgets: Budgets
    private let storage: UnwindMapStorage
    private(set) var counters = Counters()
    /// The last rejection's cause, for the log.
    private(set) var lastRejection: String?
    private var tables: [UInt32: LoadedTable] = [:]
    private var freeSlots: [UInt32]
    private var nextEntry = 0
    private var processes: Set<Int32> = []

    init(storage: UnwindMapStorage, budgets: Budgets = Budgets()) {
        self.storage = storage
        self.budgets = budgets
        // Slot 0 is never used, so a zeroed mapping names no table.
        self.freeSlots = (1..<UInt32(max(1, budgets.tables))).reversed()
    }

    /// Forgets every table and process: a new connection starts over (its table ids are its own).
    func reset() {
        for pid in processes { _ = storage.writeProcess(pid: pid, []) }
        processes.removeAll()
        for table in tables.values { storage.writeTable(slot: table.slot, tandem_unwind_table()) }
        tables.removeAll()
        freeSlots = (1..<UInt32(max(1, budgets.tables))).reversed()
        nextEntry = 0
        counters.entriesUsed = 0
    }

    /// Applies one control record. `knownMappings` gives the sampler's own view of a
    /// process's executable mappings, which every unwind mapping must match.
    func apply(_ record: ControlRecord, knownMappings: (Int32) -> [Mapping]?) {
        switch record {
        case .unwindTable(let table): load(table)
        case .unwindMappings(let set): load(set, known: knownMappings(set.pid))
        case .releaseUnwindTable(let id): release(id)
        // Answered by `FileRequestAnswerer`, not a table matter.
        case .fileRequest, .unknown: break
        }
    }

    /// The process exited: its mappings go (its tables stay, other processes may share them).
    func remove(pid: Int32) {
        if processes.remove(pid) != nil { _ = storage.writeProcess(pid: pid, []) }
    }

    func noteControlError(_ error: ControlStreamError) {
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
        let entryCount = table.rows.count
        guard entryCount <= budgets.entriesPerTable else {
            return reject(table: "table \(record.tableID): \(entryCount) entries, above the per-table budget \(budgets.entriesPerTable)")
        }
        guard nextEntry + entryCount <= storage.entryCapacity else {
            return reject(table: "table \(record.tableID): \(entryCount) entries do not fit (\(nextEntry) of \(storage.entryCapacity) used); raise the unwind entries budget")
        }
        guard let slot = freeSlots.popLast() else {
            return reject(table: "table \(record.tableID): all \(budgets.tables - 1) table slots in use")
        }
        record.table.withUnsafeBytes { bytes in
            storage.writeEntries(UnsafeRawBufferPointer(rebasing: bytes[UnwindTable.headerSize...]), at: nextEntry)
        }
        storage.writeTable(slot: slot, tandem_unwind_table(base_address: table.baseAddress, first_entry: UInt32(nextEntry),
                                                           entry_count: UInt32(entryCount)))
        nextEntry += entryCount
        counters.entriesUsed = UInt64(nextEntry)
        tables[record.tableID] = LoadedTable(slot: slot, device: record.device, inode: record.inode)
        counters.tablesLoaded += 1
    }

    private func release(_ id: UInt32) {
        guard let table = tables.removeValue(forKey: id) else { return }
        storage.writeTable(slot: table.slot, tandem_unwind_table())
        freeSlots.append(table.slot)
    }

    private func load(_ set: UnwindMappings, known: [Mapping]?) {
        var accepted: [tandem_unwind_mapping] = []
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
        }
        if accepted.isEmpty {
            remove(pid: set.pid)
            return
        }
        guard processes.contains(set.pid) || processes.count < budgets.processes,
              storage.writeProcess(pid: set.pid, accepted) else {
            counters.mappingsRejected += UInt64(accepted.count)
            lastRejection = "pid \(set.pid): no room for another process with unwind tables"
            return
        }
        processes.insert(set.pid)
        counters.mappingsLoaded += UInt64(accepted.count)
    }
}
