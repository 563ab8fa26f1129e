/// The function symbols of one ELF file, sorted by address for binary search.
///
/// A symbol costs 25 bytes here: its start, end, and where its name is. Names
/// stay in their `NameSource` (for a large binary: in the file) until a lookup
/// needs one, and are demangled on first use and remembered (most symbols are
/// never hit).
final class SymbolTable {
    private let starts: [UInt64]
    /// Exclusive end of each symbol: start + size, or the next symbol's start for size 0.
    private let ends: [UInt64]
    private let nameOffsets: [UInt32]
    private let nameLengths: [UInt32]
    /// Index into `sources` of each symbol's name.
    private let nameSources: [UInt8]
    private let sources: [NameSource]
    private var demangled: [Int: DemangledName] = [:]

    var count: Int { starts.count }

    convenience init(symbols: [RawSymbol]) {
        self.init(sets: [SymbolSet(symbols)])
    }

    /// Sorts and deduplicates the symbols of `sets` (one symbol per address: global
    /// over weak over local, then the shortest name; among equals, the first read).
    init(sets: [SymbolSet]) {
        precondition(sets.count <= Int(UInt8.max), "too many symbol tables for one file")
        var all: [(entry: SymbolEntry, source: UInt8)] = []
        all.reserveCapacity(sets.reduce(0) { $0 + $1.entries.count })
        for (source, set) in sets.enumerated() {
            for entry in set.entries { all.append((entry, UInt8(source))) }
        }
        all.sort {
            ($0.entry.address, $0.entry.rank, $0.entry.nameLength) < ($1.entry.address, $1.entry.rank, $1.entry.nameLength)
        }
        var starts: [UInt64] = []
        var sizes: [UInt64] = []
        var nameOffsets: [UInt32] = []
        var nameLengths: [UInt32] = []
        var nameSources: [UInt8] = []
        starts.reserveCapacity(all.count)
        sizes.reserveCapacity(all.count)
        nameOffsets.reserveCapacity(all.count)
        nameLengths.reserveCapacity(all.count)
        nameSources.reserveCapacity(all.count)
        for (entry, source) in all {
            if let last = starts.last, last == entry.address {
                // Same address: keep the preferred name, but the largest known size.
                if entry.size > sizes[sizes.count - 1] { sizes[sizes.count - 1] = entry.size }
                continue
            }
            starts.append(entry.address)
            sizes.append(entry.size)
            nameOffsets.append(entry.nameOffset)
            nameLengths.append(entry.nameLength)
            nameSources.append(source)
        }
        all = []
        var ends = sizes
        for index in starts.indices {
            if sizes[index] > 0 {
                ends[index] = starts[index] &+ sizes[index]
            } else if index + 1 < starts.count {
                ends[index] = starts[index + 1]
            } else {
                // The last symbol without a size: assume it does not extend past a page.
                ends[index] = starts[index] &+ 4096
            }
        }
        self.starts = starts
        self.ends = ends
        self.nameOffsets = nameOffsets
        self.nameLengths = nameLengths
        self.nameSources = nameSources
        self.sources = sets.map(\.names)
    }

    /// The index of the symbol covering `address`, if any. Symbols may nest (a
    /// sized symbol inside a larger one), so a few preceding candidates are checked.
    func index(covering address: UInt64) -> Int? {
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= address { low = middle + 1 } else { high = middle }
        }
        var candidate = low - 1
        var checked = 0
        while candidate >= 0, checked < 4 {
            if address < ends[candidate] { return candidate }
            candidate -= 1
            checked += 1
        }
        return nil
    }

    func start(at index: Int) -> UInt64 { starts[index] }

    /// The symbol's name as the file has it; nil if its file can no longer be read.
    func rawName(at index: Int) -> String? {
        sources[Int(nameSources[index])].name(at: nameOffsets[index], length: nameLengths[index])
    }

    /// The symbol's display name; nil if its file can no longer be read.
    func name(at index: Int, demangling: Bool) -> DemangledName? {
        if let cached = demangled[index] { return cached }
        guard let raw = rawName(at: index) else { return nil }
        let name = demangling ? Demangler.demangle(raw) : DemangledName(name: raw, language: .unmangled)
        demangled[index] = name
        return name
    }
}
