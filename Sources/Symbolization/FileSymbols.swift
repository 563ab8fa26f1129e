import ELF
#if canImport(Glibc)
import Glibc
#endif

/// A function symbol whose name is an offset into a `NameSource` (24 bytes).
struct SymbolEntry {
    var address: UInt64
    /// Clamped to 4 GiB.
    var size: UInt32
    var nameOffset: UInt32
    var nameLength: UInt32
    /// Lower sorts first among symbols at one address (global before weak before local).
    var rank: UInt8

    /// The order of a symbol table: by address, then rank, then the shorter name.
    static func precedes(_ left: SymbolEntry, _ right: SymbolEntry) -> Bool {
        (left.address, left.rank, left.nameLength) < (right.address, right.rank, right.nameLength)
    }
}

/// Where a symbol table's names are: bytes in memory, or a string table left in
/// the file and read with `pread` when a lookup needs a name (a large binary's
/// string table is tens of megabytes, and all but a few names are never used).
final class NameSource {
    private enum Storage {
        /// NUL-terminated names.
        case bytes([UInt8])
        /// The string table at `offset` in the open file.
        case file(OpenFile, offset: UInt64)
    }

    private let storage: Storage
    /// Bytes of names: offsets are below this.
    let size: UInt64

    init(bytes: [UInt8]) {
        storage = .bytes(bytes)
        size = UInt64(bytes.count)
    }

    init(file: OpenFile, offset: UInt64, size: UInt64) {
        storage = .file(file, offset: offset)
        self.size = size
    }

    /// The NUL-terminated name at `offset`; nil when the file can no longer be read.
    func name(at offset: UInt32) -> String? {
        guard UInt64(offset) < size else { return nil }
        switch storage {
        case .bytes(let bytes):
            let start = Int(offset)
            let end = bytes[start...].firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[start..<end], as: UTF8.self)
        case .file(let file, let tableOffset):
            var name: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 256)
            var position = UInt64(offset)
            while position < size {
                let wanted = Int(min(UInt64(chunk.count), size - position))
                let count = chunk.withUnsafeMutableBytes {
                    pread(file.fileDescriptor, $0.baseAddress, wanted, off_t(tableOffset + position))
                }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return nil }
                if let end = chunk[..<count].firstIndex(of: 0) {
                    name.append(contentsOf: chunk[..<end])
                    return String(decoding: name, as: UTF8.self)
                }
                name.append(contentsOf: chunk[..<count])
                position += UInt64(count)
            }
            return nil
        }
    }
}

/// The function symbols of one symbol table section, stably sorted by
/// `SymbolEntry.precedes`, and where their names are.
struct SymbolSet {
    private(set) var entries: [SymbolEntry]
    var names: NameSource

    /// Symbols with their names in hand (`.gopclntab`, in-memory images): one byte blob.
    init(_ symbols: [RawSymbol]) {
        var bytes: [UInt8] = []
        entries = []
        entries.reserveCapacity(symbols.count)
        for symbol in symbols {
            let offset = UInt32(bytes.count)
            bytes.append(contentsOf: symbol.name.utf8)
            entries.append(SymbolEntry(address: symbol.address, size: UInt32(clamping: symbol.size), nameOffset: offset,
                                       nameLength: UInt32(bytes.count) - offset, rank: symbol.rank))
            bytes.append(0)
        }
        entries.sort(by: SymbolEntry.precedes)
        names = NameSource(bytes: bytes)
    }

    /// `entries` in reading order; sorted here, in place when the caller gave them up.
    init(entries: consuming [SymbolEntry], names: NameSource) {
        var entries = entries
        entries.sort(by: SymbolEntry.precedes)
        self.entries = entries
        self.names = names
    }
}

/// Reads a symbol table in chunks through the ELF reader's source (`pread` for a
/// file), instead of whole (a large C++ or Swift binary's `.symtab` and `.strtab` are
/// 50 MB), keeping each function's name offset rather than its name.
enum StreamedSymbolReader {
    /// String tables up to this size keep their functions' names in memory; larger
    /// ones are read again from the file for the few names a profile uses.
    static let inMemoryNamesLimit: UInt64 = 64 << 10
    /// Whole entries of either size (24 and 16 bytes).
    private static let chunkSize = 2730 * ELFSymbol.entrySize
    private static let windowSize = 256 << 10

    /// The function symbols of `table` (`STT_FUNC`, `STT_GNU_IFUNC`, or `STT_NOTYPE` in an
    /// executable section; defined, non-zero, with a name), and how many there are.
    /// Names stay in `namesFile` (the file `source` reads) when its table is large; an
    /// image's are copied. A name offset past the string table skips that symbol.
    static func read(_ source: any ELFByteSource, table: ELFSymbolTable, namesFile: OpenFile?,
                     executableSections: Set<Int>, rustMarkers: inout Bool) throws(ELFFileError) -> (set: SymbolSet, found: Int) {
        let stringTableSize = table.strings.size
        let entrySize = table.entrySize
        // Pass 1: the symbol table, for the candidates' values, in file order. It is
        // read twice, counting first, so that the candidates take no more room than they need.
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        func forEachCandidate(_ body: (SymbolEntry, _ type: UInt8) -> Void) throws(ELFFileError) {
            let count = table.count
            var index: UInt64 = 0
            while index < count {
                let wanted = Int(min(UInt64(chunkSize / entrySize), count - index)) * entrySize
                try source.read(into: &chunk, count: wanted, at: table.symbols.offset + index * UInt64(entrySize))
                chunk.withUnsafeBytes { raw in
                    for position in stride(from: 0, to: wanted, by: entrySize) {
                        let symbol = ELFSymbol(entries: raw, at: position, entrySize: entrySize)
                        let type = symbol.type
                        let isFunction = type == ELFSymbol.typeFunction || type == ELFSymbol.typeIndirectFunction
                            || (type == ELFSymbol.typeNone && executableSections.contains(Int(symbol.sectionIndex)))
                        guard isFunction, symbol.sectionIndex != ELFSymbol.undefinedSection, symbol.value != 0,
                              UInt64(symbol.nameOffset) < stringTableSize
                        else { continue }
                        let binding = symbol.binding
                        let rank: UInt8 = binding == ELFSymbol.bindingGlobal ? 0 : (binding == ELFSymbol.bindingWeak ? 1 : 2)
                        body(SymbolEntry(address: symbol.value, size: UInt32(clamping: symbol.size), nameOffset: symbol.nameOffset,
                                         nameLength: 0, rank: type == ELFSymbol.typeNone ? rank + 3 : rank), type)
                    }
                }
                index += UInt64(wanted / entrySize)
            }
        }
        var total = 0
        try forEachCandidate { _, _ in total += 1 }
        var candidates: [SymbolEntry] = []
        var types: [UInt8] = []
        candidates.reserveCapacity(total)
        types.reserveCapacity(total)
        try forEachCandidate { entry, type in
            candidates.append(entry)
            types.append(type)
        }
        chunk = []

        // Pass 2: the string table, in name order, one window at a time: each name's
        // length and the checks that need its first bytes.
        var order = Array(0..<UInt32(candidates.count))
        order.sort { candidates[Int($0)].nameOffset < candidates[Int($1)].nameOffset }
        var keep = [Bool](repeating: false, count: candidates.count)
        // A small table's kept names are copied in as they go by; a large one's stay in the file.
        let namesInMemory = namesFile == nil || stringTableSize <= inMemoryNamesLimit
        var keptNames: [UInt8] = []
        var window = [UInt8](repeating: 0, count: Int(min(UInt64(windowSize), stringTableSize)))
        var windowStart: UInt64 = 0
        var windowCount = 0
        var found = 0
        for candidate in order.lazy.map(Int.init) {
            let offset = UInt64(candidates[candidate].nameOffset)
            var length = nameLength(in: window, windowStart: windowStart, windowCount: windowCount, at: offset)
            if length == nil, windowStart != offset || windowCount == 0 {
                windowStart = offset
                windowCount = Int(min(UInt64(window.count), stringTableSize - offset))
                try source.read(into: &window, count: windowCount, at: table.strings.offset + offset)
                length = nameLength(in: window, windowStart: windowStart, windowCount: windowCount, at: offset)
            }
            // Unterminated (or longer than a window): not a name.
            guard let length, length > 0 else { continue }
            let start = Int(offset - windowStart)
            let name = window[start..<start + length]
            if types[candidate] == ELFSymbol.typeNone, name.starts(with: ".L".utf8) || name.first == UInt8(ascii: "$") {
                continue
            }
            if !rustMarkers, name.starts(with: "_R".utf8) || name.elementsEqual("rust_eh_personality".utf8)
                || name.starts(with: "__rust_".utf8) {
                rustMarkers = true
            }
            found += 1
            keep[candidate] = true
            candidates[candidate].nameLength = UInt32(length)
            if namesInMemory {
                candidates[candidate].nameOffset = UInt32(keptNames.count)
                keptNames.append(contentsOf: name)
                keptNames.append(0)
            }
        }
        order = []
        window = []

        // Keep the kept ones in place (a copy would double the peak for a large table).
        var kept = 0
        for position in candidates.indices where keep[position] {
            candidates[kept] = candidates[position]
            kept += 1
        }
        candidates.removeLast(candidates.count - kept)
        guard let namesFile, !namesInMemory else {
            return (SymbolSet(entries: candidates, names: NameSource(bytes: keptNames)), found)
        }
        return (SymbolSet(entries: candidates, names: NameSource(file: namesFile, offset: table.strings.offset,
                                                              size: stringTableSize)), found)
    }

    /// The length of the NUL-terminated name at `offset` if the window holds all of it.
    private static func nameLength(in window: [UInt8], windowStart: UInt64, windowCount: Int, at offset: UInt64) -> Int? {
        guard offset >= windowStart, offset < windowStart + UInt64(windowCount) else { return nil }
        let start = Int(offset - windowStart)
        return window.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress,
                  let end = memchr(base + start, 0, windowCount - start) else { return nil }
            return base.distance(to: UnsafeRawPointer(end)) - start
        }
    }
}
