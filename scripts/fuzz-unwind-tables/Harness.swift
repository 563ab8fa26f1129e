// libFuzzer entry point for the unwind-table compiler, compiled into the UnwindTableCompiler
// module itself by scripts/fuzz-unwind-tables.sh (so it needs no import of the compiler).
// Any input must end in a typed error or in a table that survives its own serialization.

import UnwindTableFormat

/// Treats a compressed section's data as already decompressed (up to the limit), so that
/// fuzzed `Elf64_Chdr`s and their contents reach the size checks and the CFI parser.
struct StoredSectionDecompressor: SectionDecompressor {
    func decompress(_ compressed: ArraySlice<UInt8>, format: SectionCompression,
                    outputLimit: Int) throws(SectionDecompressionFailure) -> [UInt8] {
        guard compressed.count <= outputLimit else { throw .outputLimitExceeded(limit: outputLimit) }
        return Array(compressed)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnwindTables(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let table = try? UnwindTable.compile(elfBytes: bytes) {
        let decoded = try? UnwindTable(serialized: table.serialized())
        precondition(decoded?.rows == table.rows, "a compiled table does not survive serialization")
    }
    // Compressed sections, and the input's .debug_frame given again as its debug file's.
    let debugFrame = (try? SeparateDebugFrame(debugFileBytes: bytes)) ?? nil
    if let table = try? UnwindTable.compile(elfBytes: bytes, separateDebugFrame: debugFrame,
                                            decompressor: StoredSectionDecompressor(), maximumDecompressedSize: 1 << 20) {
        let decoded = try? UnwindTable(serialized: table.serialized())
        precondition(decoded?.rows == table.rows, "a compiled table does not survive serialization")
    }
    _ = try? UnwindTable(serialized: bytes)
    return 0
}
