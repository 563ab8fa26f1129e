// libFuzzer entry point for the DWARF line-program reader, compiled into the SourceLines
// module itself by scripts/fuzz-line-programs.sh. Any input, read as a `.debug_line`
// (and as its own `.debug_line_str` and `.debug_str`, so that string offsets land
// somewhere), must end in a table or a typed error, within the row cap, and lookups in
// the table must answer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLinePrograms(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let maximumRows = 1 << 12
    let sections = DWARFLineProgram.Sections(debugLine: bytes, debugLineStr: bytes, debugStr: bytes)
    guard let table = try? DWARFLineProgram.table(of: sections, maximumRows: maximumRows) else { return 0 }
    precondition(table.count <= maximumRows, "a table holds more rows than its cap")
    for address: UInt64 in [0, 1, 0x1000, 0x40_1000, UInt64(size), UInt64.max] {
        if let location = table.location(of: address) {
            precondition(location.line != 0, "a lookup gave line 0")
            precondition(table.files.contains(location.file), "a lookup gave a file the table does not have")
        }
    }
    return 0
}
