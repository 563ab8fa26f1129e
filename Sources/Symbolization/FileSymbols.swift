import CTandemELF
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

/// Reads a 64-bit little-endian symbol table straight from the file with `pread`,
/// in chunks, instead of through `elf_getdata` (which holds the whole `.symtab`
/// and `.strtab` in memory: 50 MB for a large C++ or Swift binary).
enum StreamedSymbolReader {
    static let entrySize = 24
    /// String tables up to this size keep their functions' names in memory; larger
    /// ones are read again from the file for the few names a profile uses.
    static let inMemoryNamesLimit: UInt64 = 64 << 10
    private static let chunkSize = 2730 * 24
    private static let windowSize = 256 << 10

    struct Section {
        var offset: UInt64
        var size: UInt64
        var isSymbolTable: Bool
        var stringTableOffset: UInt64
        var stringTableSize: UInt64
    }

    /// The function symbols of `section`, with the same rules as the libelf path
    /// (`ELFReader.readSymbols`); `found` counts them even when not collected.
    static func read(file: OpenFile, section: Section, executableSections: Set<Int>, collect: Bool,
                     rustMarkers: inout Bool) throws(ELFError) -> (set: SymbolSet?, found: Int) {
        // Pass 1: the symbol table, for the candidates' values, in file order. It is
        // read twice, counting first, so that the candidates take no more room than they need.
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        func forEachCandidate(_ body: (SymbolEntry, _ type: UInt8) -> Void) throws(ELFError) {
            let count = section.size / UInt64(entrySize)
            var index: UInt64 = 0
            while index < count {
                let wanted = Int(min(UInt64(chunkSize / entrySize), count - index)) * entrySize
                try readExactly(file, into: &chunk, count: wanted, at: section.offset + index * UInt64(entrySize),
                                what: "symbol table")
                chunk.withUnsafeBytes { raw in
                    for position in stride(from: 0, to: wanted, by: entrySize) {
                        let nameOffset = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self))
                        let info = raw[position + 4]
                        let sectionIndex = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: position + 6, as: UInt16.self))
                        let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self))
                        let size = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position + 16, as: UInt64.self))
                        let type = Int32(tandem_symbol_type(info))
                        let isFunction = type == STT_FUNC || type == STT_GNU_IFUNC
                            || (type == STT_NOTYPE && executableSections.contains(Int(sectionIndex)))
                        guard isFunction, sectionIndex != UInt16(SHN_UNDEF), value != 0,
                              UInt64(nameOffset) < section.stringTableSize
                        else { continue }
                        let binding = info >> 4
                        let rank: UInt8 = binding == UInt8(STB_GLOBAL) ? 0 : (binding == UInt8(STB_WEAK) ? 1 : 2)
                        body(SymbolEntry(address: value, size: UInt32(clamping: size), nameOffset: nameOffset,
                                         nameLength: 0, rank: type == STT_NOTYPE ? rank + 3 : rank), UInt8(type))
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
        let namesInMemory = collect && section.stringTableSize <= inMemoryNamesLimit
        var keptNames: [UInt8] = []
        var window = [UInt8](repeating: 0, count: Int(min(UInt64(windowSize), section.stringTableSize)))
        var windowStart: UInt64 = 0
        var windowCount = 0
        var found = 0
        for candidate in order.lazy.map(Int.init) {
            let offset = UInt64(candidates[candidate].nameOffset)
            var length = nameLength(in: window, windowStart: windowStart, windowCount: windowCount, at: offset)
            if length == nil, windowStart != offset || windowCount == 0 {
                windowStart = offset
                windowCount = Int(min(UInt64(window.count), section.stringTableSize - offset))
                try readExactly(file, into: &window, count: windowCount, at: section.stringTableOffset + offset,
                                what: "string table")
                length = nameLength(in: window, windowStart: windowStart, windowCount: windowCount, at: offset)
            }
            // Unterminated (or longer than a window): not a name libelf would give either.
            guard let length, length > 0 else { continue }
            let start = Int(offset - windowStart)
            let name = window[start..<start + length]
            if Int32(types[candidate]) == STT_NOTYPE, name.starts(with: ".L".utf8) || name.first == UInt8(ascii: "$") {
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
        guard collect else { return (nil, found) }

        // Keep the kept ones in place (a copy would double the peak for a large table).
        var kept = 0
        for position in candidates.indices where keep[position] {
            candidates[kept] = candidates[position]
            kept += 1
        }
        candidates.removeLast(candidates.count - kept)
        if namesInMemory {
            return (SymbolSet(entries: candidates, names: NameSource(bytes: keptNames)), found)
        }
        return (SymbolSet(entries: candidates, names: NameSource(file: file, offset: section.stringTableOffset,
                                                              size: section.stringTableSize)), found)
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

    private static func readExactly(_ file: OpenFile, into buffer: inout [UInt8], count: Int, at offset: UInt64,
                                    what: String) throws(ELFError) {
        var done = 0
        while done < count {
            let result = buffer.withUnsafeMutableBytes {
                pread(file.fileDescriptor, $0.baseAddress! + done, count - done, off_t(offset + UInt64(done)))
            }
            if result < 0, errno == EINTR { continue }
            if result < 0 {
                throw ELFError("pread(\(what)) of \(file.path): \(String(cString: strerror(errno)))")
            }
            if result == 0 { throw ELFError("corrupt or truncated ELF file: \(what) ends past the end of \(file.path)") }
            done += result
        }
    }
}
