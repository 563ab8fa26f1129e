// libFuzzer entry point for the unwind-table compiler, compiled into the UnwindTables
// module itself by scripts/fuzz-unwind-tables.sh (so it needs no import).
// Any input must end in a typed error or in a table that survives its own serialization.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnwindTables(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let table = try? UnwindTable.compile(elfBytes: bytes) {
        let decoded = try? UnwindTable(serialized: table.serialized())
        precondition(decoded?.rows == table.rows, "a compiled table does not survive serialization")
    }
    _ = try? UnwindTable(serialized: bytes)
    return 0
}
