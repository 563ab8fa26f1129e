// libFuzzer entry point for the unwind-table compiler and the shared ELF reader, compiled
// into the UnwindTableCompiler module itself by scripts/fuzz-unwind-tables.sh (so it needs
// no import of the compiler). Any input must end in a typed error or in a table that
// survives its own serialization; everything symbolization reads through the ELF reader
// must end in a value or a typed error.
import ELF

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
    readAsSymbolizationDoes(bytes)
    return 0
}

/// The build id, debug link and every symbol of every symbol table, as symbolization reads them.
private func readAsSymbolizationDoes(_ bytes: [UInt8]) {
    guard let elf = try? ELFFile(bytes: bytes) else { return }
    _ = try? elf.buildID()
    _ = try? elf.debugLink()
    for table in (try? elf.symbolTables()) ?? [] {
        guard let entries = try? elf.storedBytes(of: table.symbols, limit: 1 << 20),
              let strings = try? elf.storedBytes(of: table.strings, limit: 1 << 20) else { continue }
        entries.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count - ELFSymbol.entrySize + 1, by: ELFSymbol.entrySize) {
                let symbol = ELFSymbol(entries: raw, at: offset)
                if Int(symbol.nameOffset) < strings.count { _ = strings[Int(symbol.nameOffset)...].firstIndex(of: 0) }
            }
        }
    }
}
