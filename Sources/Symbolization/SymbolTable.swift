import Profiles

/// The function symbols of one ELF file, sorted by address for binary search.
///
/// A symbol costs 10 bytes here: its start (32 bits from the lowest, when the
/// file's symbols span less than 4 GiB), its size (16 bits, larger ones aside)
/// and where its name is; 16 more once a frame of the file is named (the slot
/// of the symbol's frame names).
/// Names stay in their `NameSource` (for a large binary: in the file) until a
/// lookup needs one, and are demangled on first use and remembered (most
/// symbols are never hit).
final class SymbolTable {
    /// Starts minus `base` when every start fits in 32 bits above it (else empty).
    private let narrowStarts: [UInt32]
    /// Starts, when `narrowStarts` cannot hold them (else empty).
    private let wideStarts: [UInt64]
    private let base: UInt64
    let count: Int
    /// Sizes from the symbol table (0: up to the next symbol); `UInt16.max`: see `largeSizes`.
    private let sizes: [UInt16]
    /// Sizes of `UInt16.max` bytes and more (clamped to 4 GiB), by symbol index: few functions are that large.
    private let largeSizes: [Int: UInt32]
    /// Offsets into the sources' names laid end to end (`sourceBases`).
    private let nameOffsets: [UInt32]
    private let sources: [NameSource]
    private let sourceBases: [UInt64]
    /// Names looked up, by symbol index.
    private var demangled: [Int: DemangledName] = [:]
    /// By symbol index, from the first frame named in this file: the frame names last given
    /// for the symbol (shared by every frame of it in the same file path and source file)
    /// and its language. Flat, 16 bytes a symbol, so that naming a frame of a symbol named
    /// before reaches one slot (a dictionary's lookup reached its bitmap, key and value).
    private var frames: [(names: FrameNames?, language: SymbolLanguage)] = []

    convenience init(symbols: [RawSymbol]) {
        self.init(sets: [SymbolSet(symbols)])
    }

    /// Sorts and deduplicates the symbols of `sets` (one symbol per address: global
    /// over weak over local, then the shortest name; among equals, the first read).
    init(sets: [SymbolSet]) {
        var sources: [NameSource] = []
        var sourceBases: [UInt64] = []
        var runs: [[SymbolEntry]] = []
        var base: UInt64 = 0
        for set in sets {
            // Names of all sources together must stay addressable by 32 bits: more
            // than 4 GiB of names for one file is not a real file.
            guard base + set.names.size <= UInt64(UInt32.max) else { continue }
            sources.append(set.names)
            sourceBases.append(base)
            runs.append(set.entries)
            base += set.names.size
        }
        // Each set is sorted (stably); merging them, ties going to the earlier set, is
        // the stable sort of all of them in reading order, without copying them.
        func forEachMerged(_ body: (SymbolEntry, _ nameBase: UInt32) -> Void) {
            var positions = [Int](repeating: 0, count: runs.count)
            while true {
                var best = -1
                for run in runs.indices where positions[run] < runs[run].count {
                    if best < 0 || SymbolEntry.precedes(runs[run][positions[run]], runs[best][positions[best]]) {
                        best = run
                    }
                }
                if best < 0 { return }
                body(runs[best][positions[best]], UInt32(sourceBases[best]))
                positions[best] += 1
            }
        }
        var unique = 0
        var previous: UInt64?
        forEachMerged { entry, _ in
            if entry.address != previous { unique += 1 }
            previous = entry.address
        }
        var starts: [UInt64] = []
        var sizes: [UInt32] = []
        var nameOffsets: [UInt32] = []
        starts.reserveCapacity(unique)
        sizes.reserveCapacity(unique)
        nameOffsets.reserveCapacity(unique)
        forEachMerged { entry, nameBase in
            if let last = starts.last, last == entry.address {
                // Same address: keep the preferred name, but the largest known size.
                if entry.size > sizes[sizes.count - 1] { sizes[sizes.count - 1] = entry.size }
                return
            }
            starts.append(entry.address)
            sizes.append(entry.size)
            nameOffsets.append(entry.nameOffset + nameBase)
        }
        self.count = starts.count
        let lowest = starts.first ?? 0
        self.base = lowest
        if let last = starts.last, last - lowest <= UInt64(UInt32.max) {
            narrowStarts = starts.map { UInt32($0 - lowest) }
            wideStarts = []
        } else {
            narrowStarts = []
            wideStarts = starts
        }
        var largeSizes: [Int: UInt32] = [:]
        self.sizes = sizes.enumerated().map { index, size in
            if size < UInt32(UInt16.max) { return UInt16(size) }
            largeSizes[index] = size
            return UInt16.max
        }
        self.largeSizes = largeSizes
        self.nameOffsets = nameOffsets
        self.sources = sources
        self.sourceBases = sourceBases
    }

    @inline(__always)
    func start(at index: Int) -> UInt64 {
        wideStarts.isEmpty ? base &+ UInt64(narrowStarts[index]) : wideStarts[index]
    }

    /// Exclusive end of a symbol: start + size, or the next symbol's start for size 0.
    private func end(at index: Int) -> UInt64 {
        let size = sizes[index] == UInt16.max ? UInt64(largeSizes[index] ?? 0) : UInt64(sizes[index])
        if size > 0 { return start(at: index) &+ size }
        if index + 1 < count { return start(at: index + 1) }
        // The last symbol without a size: assume it does not extend past a page.
        return start(at: index) &+ 4096
    }

    /// The index of the symbol covering `address`, if any. Symbols may nest (a
    /// sized symbol inside a larger one), so a few preceding candidates are checked.
    func index(covering address: UInt64) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if start(at: middle) <= address { low = middle + 1 } else { high = middle }
        }
        var candidate = low - 1
        var checked = 0
        while candidate >= 0, checked < 4 {
            if address < end(at: candidate) { return candidate }
            candidate -= 1
            checked += 1
        }
        return nil
    }

    /// The symbol's name as the file has it; nil if its file can no longer be read.
    func rawName(at index: Int) -> String? {
        let offset = UInt64(nameOffsets[index])
        var source = sourceBases.count - 1
        while source > 0, sourceBases[source] > offset { source -= 1 }
        return sources[source].name(at: UInt32(offset - sourceBases[source]))
    }

    /// The symbol's display name; nil if its file can no longer be read.
    func name(at index: Int, demangling: Bool) -> DemangledName? {
        if let cached = demangled[index] { return cached }
        guard let raw = rawName(at: index) else { return nil }
        let name = demangling ? Demangler.demangle(raw) : DemangledName(name: raw, language: .unmangled)
        demangled[index] = name
        return name
    }

    /// The names of a frame of the symbol at `index` in the file mapped at `mappingPath`,
    /// the same instance as the last lookup's when the path and source file are the same
    /// (one dictionary lookup, as `name(at:demangling:)`); nil if the file can no longer be read.
    func frameNames(at index: Int, demangling: Bool, mappingPath: String,
                    sourceFile: String?) -> (names: FrameNames, language: SymbolLanguage)? {
        if frames.isEmpty { frames = Array(repeating: (nil, .unmangled), count: count) }
        let cached = frames[index]
        if let names = cached.names, names.mappingPath == mappingPath, names.sourceFile == sourceFile {
            return (names, cached.language)
        }
        guard let name = name(at: index, demangling: demangling) else { return nil }
        let names = FrameNames(functionName: name.name, mappingPath: mappingPath, sourceFile: sourceFile)
        frames[index] = (names, name.language)
        return (names, name.language)
    }
}
