// libFuzzer target for what the sampler, as root, does with an unwind table the aggregator
// sent (control record 12): `UnwindTableLoader` validates it with `UnwindTable(serialized:)`
// and copies its entries into the BPF maps. Compiled into the UnwindTableLoading module by
// scripts/fuzz-unwind-table-validator.sh, the maps replaced by memory that checks every write.
//
// Any trap, sanitizer report, timeout or memory blow-up is a finding. Beyond "no crash", a
// table the validator accepts must be what the BPF unwinder's binary search and rule decoding
// rely on (docs/unwind-tables.md, "Serialized format"), checked on the raw bytes, not through
// the validator's own decoding; and it must reach the maps exactly as sent, or be rejected.
import CTandemBPF
import UnwindTableFormat
import WireFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnwindTableValidator(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let accepted = try? UnwindTable(serialized: bytes)
    if let accepted { checkAccepted(accepted, bytes: bytes) }

    // The sampler's own path, into memory maps.
    let maps = CheckingMaps()
    let loader = UnwindTableLoader(storage: maps)
    loader.apply(.unwindTable(UnwindTableRecord(tableID: 7, device: 0x803, inode: 42, table: bytes)), knownMappings: { _ in nil })
    let loaded = loader.counters.tablesLoaded == 1
    guard loaded == (accepted.map { $0.rows.count <= loader.budgets.entriesPerTable } ?? false) else {
        fatalError("the loader \(loaded ? "loaded" : "rejected") a table the validator \(accepted == nil ? "refused" : "accepted")")
    }
    guard loaded, let accepted else {
        guard maps.tables.isEmpty, maps.entries.isEmpty else { fatalError("a rejected table reached the maps") }
        return 0
    }
    guard maps.tables.count == 1, let table = maps.tables.first?.value, Int(table.entry_count) == accepted.rows.count,
          table.base_address == accepted.baseAddress else {
        fatalError("the table slot does not describe the table: \(maps.tables)")
    }
    // One write of exactly the entries sent (none for an empty table, whose slot BPF reads as free).
    guard maps.entries.count == 1, let written = maps.entries.first, written.index == Int(table.first_entry),
          written.bytes[...] == bytes[UnwindTable.headerSize...] else {
        fatalError("the entries written are not the table's")
    }
    return 0
}

/// What the BPF program relies on in an accepted table, read from the bytes as it reads them.
func checkAccepted(_ table: UnwindTable, bytes: [UInt8]) {
    func u32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
    func fail(_ what: String) -> Never { fatalError("accepted table: \(what)") }
    let count = Int(u32(8))
    guard bytes.count == UnwindTable.headerSize + UnwindTable.entrySize * count, table.rows.count == count else {
        fail("\(bytes.count) bytes for \(count) entries (\(table.rows.count) rows)")
    }
    // The per-table budget is the loader's; the BPF search's 25 steps cover 2^24 entries.
    guard count <= UnwindTable.maximumEntryCount, count < 1 << 25 else { fail("\(count) entries") }
    guard Array(bytes[0..<8]) == Array("TUNW".utf8) + [1, 0, 8, 0], u32(12) == 0 else { fail("header \(bytes[0..<16])") }
    let base = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[16 + $1]) << (8 * $1) }
    var previous: UInt32?
    for index in 0..<count {
        let offset = u32(UnwindTable.headerSize + index * UnwindTable.entrySize)
        let rule = u32(UnwindTable.headerSize + index * UnwindTable.entrySize + 4)
        // Sorted: the binary search finds the last entry at or before an offset.
        if let previous { guard offset > previous else { fail("entry \(index) not after the one before") } }
        else { guard offset == 0 else { fail("first entry at offset \(offset)") } }
        previous = offset
        guard table.rows[index].startAddress == base + UInt64(offset) else { fail("row \(index) is not at base + offset") }
        checkRule(rule, index: index, isLast: index == count - 1)
    }
    // Canonical: nothing in the bytes that the table does not say (the empty table's base aside).
    if count > 0, table.serialized() != bytes { fail("does not serialize back to the same bytes") }
}

/// A rule word as the BPF unwinder decodes it: every kind known, and no field its kind does not use.
func checkRule(_ rule: UInt32, index: Int, isLast: Bool) {
    let cfaKind = rule & 7, rbpKind = (rule >> 3) & 3
    let small = Int8(bitPattern: UInt8(truncatingIfNeeded: rule >> 5)), cfaOffset = rule >> 13
    func fail(_ what: String) -> Never { fatalError("accepted entry \(index), rule 0x\(String(rule, radix: 16)): \(what)") }
    guard cfaKind <= 5, rbpKind <= 2 else { fail("unknown kind") }
    if isLast, cfaKind != 0 { fail("the last entry is not no-info") }
    switch cfaKind {
    case 0, 4, 5: guard rule >> 3 == 0 else { fail("fields set on a rule without offsets") }
    case 3: guard rbpKind == 0, (0...15).contains(small) else { fail("PLT rule with rbp kind \(rbpKind), threshold \(small)") }
    default: guard rbpKind == 1 || small == 0 else { fail("rbp offset without rbp kind 1") }
    }
    guard cfaOffset <= 524_287 else { fail("CFA offset \(cfaOffset)") }
}

/// The BPF maps as memory, recording what the loader writes (only tables go through here).
final class CheckingMaps: UnwindMapStorage {
    /// Room for any table of the fuzzer's longest input (-max_len).
    let entryCapacity = 1 << 16
    var entries: [(index: Int, bytes: [UInt8])] = []
    var tables: [UInt32: tandem_unwind_table] = [:]

    func writeEntries(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        guard index >= 0, bytes.count % UnwindTable.entrySize == 0,
              index + bytes.count / UnwindTable.entrySize <= entryCapacity else {
            fatalError("entries written outside the array: \(bytes.count) bytes at entry \(index)")
        }
        entries.append((index, Array(bytes)))
    }

    func writeTable(slot: UInt32, _ table: tandem_unwind_table) {
        guard slot > 0, Int(slot) < Int(TANDEM_UNWIND_MAX_TABLES),
              UInt64(table.first_entry) + UInt64(table.entry_count) <= UInt64(entryCapacity) else {
            fatalError("table slot \(slot) written outside its bounds: \(table)")
        }
        tables[slot] = table
    }

    func writeProcess(pid: Int32, _ mappings: [tandem_unwind_mapping]) -> Bool {
        fatalError("no mappings record was sent")
    }
}
