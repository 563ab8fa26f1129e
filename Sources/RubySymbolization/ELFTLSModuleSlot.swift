import ELF

/// Finds the GOT word a general-dynamic TLS access to a symbol reads its module id from:
/// the `r_offset` of the `R_X86_64_DTPMOD64` relocation in `.rela.dyn` that names it. The
/// dynamic linker writes the module id there at load; with the thread's DTV it gives the
/// thread's TLS block of the module.
enum ELFTLSModuleSlot {
    static let relocationDTPMOD64: UInt64 = 16
    private static let relocationEntrySize = 24
    /// `.rela.dyn` larger than this is not read (libruby-3.1's is 70 KB).
    static let maximumRelocationBytes: UInt64 = 16 << 20

    static func address(of name: String, in elf: ELFFile) throws(ELFFileError) -> UInt64? {
        guard let relocations = elf.section(named: ".rela.dyn"), let symbols = elf.section(named: ".dynsym"),
              let strings = elf.section(named: ".dynstr"), symbols.entrySize == UInt64(ELFSymbol.entrySize)
        else { return nil }
        let table = try elf.storedBytes(of: relocations, limit: maximumRelocationBytes)
        let symbolBytes = try elf.storedBytes(of: symbols, limit: maximumRelocationBytes)
        let stringBytes = try elf.storedBytes(of: strings, limit: ELFNamedSymbols.maximumStringTableSize)
        let wanted = Array(name.utf8) + [0]
        return table.withUnsafeBytes { raw -> UInt64? in
            for start in stride(from: 0, through: raw.count - relocationEntrySize, by: relocationEntrySize) {
                let offset = raw.loadUnaligned(fromByteOffset: start, as: UInt64.self).littleEndian
                let info = raw.loadUnaligned(fromByteOffset: start + 8, as: UInt64.self).littleEndian
                let symbolIndex = Int(info >> 32)
                guard info & 0xFFFF_FFFF == relocationDTPMOD64, symbolIndex > 0,
                      (symbolIndex + 1) * ELFSymbol.entrySize <= symbolBytes.count
                else { continue }
                let symbol = symbolBytes.withUnsafeBytes { ELFSymbol(entries: $0, at: symbolIndex * ELFSymbol.entrySize) }
                let nameStart = Int(symbol.nameOffset)
                guard nameStart <= stringBytes.count - wanted.count,
                      stringBytes[nameStart..<nameStart + wanted.count].elementsEqual(wanted)
                else { continue }
                return offset
            }
            return nil
        }
    }
}
