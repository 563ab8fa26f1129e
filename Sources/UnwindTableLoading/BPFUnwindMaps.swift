import CTandemBPF
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The unwind-table maps of the loaded BPF object: the entries and table arrays are
/// mmap'ed (written in place, no system call per entry), the per-process hash map is
/// updated with `bpf_map_update_elem` on its descriptor (no capability needed after
/// start-up: the descriptor is the permission).
package final class BPFUnwindMaps: UnwindMapStorage {
    package let entryCapacity: Int
    private let entries: UnsafeMutableRawPointer
    private let entriesLength: Int
    private let tables: UnsafeMutableRawPointer
    private let tablesLength: Int
    private let processesFD: Int32

    /// Maps the arrays of `object` (loaded, with `unwind_entries` sized `entryCapacity`).
    package init(object: OpaquePointer, entryCapacity: Int) throws(SystemCallError) {
        func map(_ name: String) throws(SystemCallError) -> OpaquePointer {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return map
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        func roundUp(_ bytes: Int) -> Int { (bytes + page - 1) / page * page }
        self.entryCapacity = entryCapacity
        entriesLength = roundUp(entryCapacity * MemoryLayout<tandem_unwind_entry>.size)
        tablesLength = roundUp(Int(TANDEM_UNWIND_MAX_TABLES) * MemoryLayout<tandem_unwind_table>.size)
        let entriesMap = try map("unwind_entries")
        let tablesMap = try map("unwind_tables")
        processesFD = bpf_map__fd(try map("unwind_processes"))
        let mappedEntries = mmap(nil, entriesLength, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(entriesMap), 0)
        guard let mappedEntries, mappedEntries != MAP_FAILED else { throw .last("mmap(unwind_entries)") }
        let mappedTables = mmap(nil, tablesLength, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(tablesMap), 0)
        guard let mappedTables, mappedTables != MAP_FAILED else {
            munmap(mappedEntries, entriesLength)
            throw .last("mmap(unwind_tables)")
        }
        entries = mappedEntries
        tables = mappedTables
    }

    deinit {
        munmap(entries, entriesLength)
        munmap(tables, tablesLength)
    }

    package func writeEntries(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        let offset = index * MemoryLayout<tandem_unwind_entry>.size
        precondition(offset >= 0 && offset + bytes.count <= entryCapacity * MemoryLayout<tandem_unwind_entry>.size)
        entries.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    /// Publishes table slot `slot` to the BPF program, which reads it concurrently on
    /// any CPU without a lock.
    ///
    /// The protocol (one writer, this thread): `entry_count` 0 means "no table", and it is
    /// the only field a reader trusts first. The writer hides the slot (count 0), then a
    /// release fence (the kernel's `smp_wmb()`) orders that before the new base and first
    /// entry; the count is stored last with release ordering (`smp_store_release()`), so
    /// a reader that sees it also sees the entries (written before this call), base and
    /// first entry. The reader loads the count first, then the rest: load-load order that
    /// x86-64, the only architecture the BPF program builds for, keeps without a barrier.
    /// A reader that loaded the old count before the hide may pair it with the new base:
    /// every entry it then reads is bounds-checked by the map lookup, so the worst case
    /// is one sample's misplaced frame, not a fault.
    package func writeTable(slot: UInt32, _ table: tandem_unwind_table) {
        precondition(slot < TANDEM_UNWIND_MAX_TABLES)
        let record = tables.advanced(by: Int(slot) * MemoryLayout<tandem_unwind_table>.size)
            .assumingMemoryBound(to: tandem_unwind_table.self)
        // `entry_count` is an aligned __u32 in the shared map memory: accessed as the
        // Atomic<UInt32> of the same size and alignment, so the compiler neither tears,
        // merges nor moves its stores.
        let count = UnsafeMutableRawPointer(record).advanced(by: MemoryLayout<tandem_unwind_table>.offset(of: \.entry_count)!)
            .assumingMemoryBound(to: Atomic<UInt32>.self)
        count.pointee.store(0, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        record.pointee.base_address = table.base_address
        record.pointee.first_entry = table.first_entry
        count.pointee.store(table.entry_count, ordering: .releasing)
    }

    package func writeProcess(pid: Int32, _ mappings: [tandem_unwind_mapping]) -> Bool {
        var key = UInt32(bitPattern: pid)
        if mappings.isEmpty {
            _ = bpf_map_delete_elem(processesFD, &key)
            return true
        }
        var value = tandem_unwind_process()
        value.count = UInt32(min(mappings.count, Int(TANDEM_UNWIND_MAX_MAPPINGS)))
        withUnsafeMutableBytes(of: &value.mappings) { raw in
            let slots = raw.bindMemory(to: tandem_unwind_mapping.self)
            for (index, mapping) in mappings.prefix(slots.count).enumerated() { slots[index] = mapping }
        }
        return bpf_map_update_elem(processesFD, &key, &value, UInt64(BPF_ANY)) == 0
    }
}
