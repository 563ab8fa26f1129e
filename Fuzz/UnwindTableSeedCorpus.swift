// Writes serialized unwind tables to seed the validator fuzzer
// (scripts/fuzz-unwind-table-validator.sh):
//   unwind-table-seeds DIRECTORY ELF-FILE...
// Each ELF file's table as the aggregator compiles and sends it, and small tables with
// every rule kind; each also cut short (SeedFile.swift). Compiled into the
// UnwindTableCompiler module, over ELF and UnwindTableFormat.

import UnwindTableFormat
#if canImport(Glibc)
import Glibc
#endif

/// Every CFA and rbp rule kind, the extremes of their fields, and a table at the top of the address space.
func ruleKindTables() -> [[UInt8]] {
    let rows: [UnwindRow] = [
        UnwindRow(startAddress: 0x1000, cfa: .registerOffset(.rsp, offset: 8), rbp: .unchanged),
        UnwindRow(startAddress: 0x1001, cfa: .registerOffset(.rsp, offset: 16), rbp: .cfaOffset(-16)),
        UnwindRow(startAddress: 0x1004, cfa: .registerOffset(.rbp, offset: 16), rbp: .cfaOffset(-16)),
        UnwindRow(startAddress: 0x1010, cfa: .registerOffset(.rsp, offset: 524_287), rbp: .cfaOffset(-1024)),
        UnwindRow(startAddress: 0x1020, cfa: .registerOffset(.rbp, offset: 0), rbp: .cfaOffset(1016)),
        UnwindRow(startAddress: 0x1030, cfa: .registerOffset(.rsp, offset: 24), rbp: .undefined),
        UnwindRow(startAddress: 0x1040, cfa: .pltExpression(rspOffset: 8, threshold: 11), rbp: .unchanged),
        UnwindRow(startAddress: 0x1050, cfa: .pltExpression(rspOffset: 0, threshold: 15), rbp: .unchanged),
        UnwindRow(startAddress: 0x1060, cfa: .endOfStack, rbp: .unchanged),
        UnwindRow(startAddress: 0x1070, cfa: .unsupported, rbp: .unchanged),
        UnwindRow(startAddress: 0x1080, cfa: .noInfo, rbp: .unchanged),
        UnwindRow(startAddress: 0x1090, cfa: .registerOffset(.rsp, offset: 8), rbp: .unchanged),
        UnwindRow(startAddress: 0x10A0, cfa: .noInfo, rbp: .unchanged),
    ]
    let top = [
        UnwindRow(startAddress: UInt64.max - 0xFFFF_FFFF, cfa: .registerOffset(.rsp, offset: 8), rbp: .unchanged),
        UnwindRow(startAddress: UInt64.max, cfa: .noInfo, rbp: .unchanged),
    ]
    return [
        UnwindTable(rows: [], statistics: .init()).serialized(),
        UnwindTable(rows: [UnwindRow(startAddress: 0x401000, cfa: .noInfo, rbp: .unchanged)], statistics: .init()).serialized(),
        UnwindTable(rows: Array(rows.prefix(11)), statistics: .init()).serialized(),
        UnwindTable(rows: Array(rows[10...]), statistics: .init()).serialized(),
        UnwindTable(rows: top, statistics: .init()).serialized(),
    ]
}

@main
struct UnwindTableSeedCorpus {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else { fatalError("usage: unwind-table-seeds DIRECTORY ELF-FILE...") }
        var seeds = ruleKindTables()
        for path in arguments.dropFirst(2) {
            guard let bytes = readWhole(path) else { fatalError("cannot read \(path)") }
            do {
                seeds.append(try UnwindTable.compile(elfBytes: bytes).serialized())
            } catch {
                fatalError("\(path): \(error)")
            }
        }
        writeSeeds(seeds, to: arguments[1], name: "table")
    }

    static func readWhole(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
