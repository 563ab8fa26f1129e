/// The values of a few defined symbols, looked up by name in a file's `.dynsym`, then
/// `.symtab`: what interpreter detection (CPython, Perl, Ruby, V8, HotSpot) needs, without indexing every symbol.
public enum ELFNamedSymbols {
    /// A string table larger than this is not read (a CPython `.strtab` is about 1 MB).
    public static let maximumStringTableSize: UInt64 = 64 << 20
    private static let chunkEntries = 4096

    /// `names` → `st_value`, for those defined in some table (the first table that defines one wins).
    public static func values(of names: Set<String>, in elf: ELFFile) throws(ELFFileError) -> [String: UInt64] {
        let wanted = Dictionary(uniqueKeysWithValues: names.map { (Array($0.utf8) + [0], $0) })
        var found: [String: UInt64] = [:]
        // Dynamic symbols first: that is where an interpreter exports _PyRuntime for its extension modules.
        let tables = try elf.symbolTables().sorted { !$0.isStatic && $1.isStatic }
        for table in tables where found.count < names.count {
            let strings = try elf.storedBytes(of: table.strings, limit: maximumStringTableSize)
            let entrySize = table.entrySize
            var chunk = [UInt8](repeating: 0, count: chunkEntries * entrySize)
            var index: UInt64 = 0
            while index < table.count {
                let entries = Int(min(UInt64(chunkEntries), table.count - index))
                try elf.source.read(into: &chunk, count: entries * entrySize, at: table.symbols.offset + index * UInt64(entrySize))
                chunk.withUnsafeBytes { raw in
                    for position in stride(from: 0, to: entries * entrySize, by: entrySize) {
                        let symbol = ELFSymbol(entries: raw, at: position, entrySize: entrySize)
                        guard symbol.sectionIndex != ELFSymbol.undefinedSection,
                              let name = name(at: Int(symbol.nameOffset), in: strings, among: wanted),
                              found[name] == nil
                        else { continue }
                        found[name] = symbol.value
                    }
                }
                index += UInt64(entries)
            }
        }
        return found
    }

    /// The wanted name (with its NUL) that starts at `offset` of `strings`, if any.
    private static func name(at offset: Int, in strings: [UInt8], among wanted: [[UInt8]: String]) -> String? {
        for (bytes, name) in wanted where offset < strings.count && strings.count - offset >= bytes.count
            && strings[offset..<offset + bytes.count].elementsEqual(bytes) {
            return name
        }
        return nil
    }
}
