/// The function symbols of one ELF file, sorted by address for binary search.
/// Names are demangled on first use and remembered (most symbols are never hit).
final class SymbolTable {
    private let starts: [UInt64]
    /// Exclusive end of each symbol: start + size, or the next symbol's start for size 0.
    private let ends: [UInt64]
    private let rawNames: [String]
    private var demangled: [DemangledName?]

    var count: Int { starts.count }

    /// Sorts and deduplicates `symbols` (one symbol per address: global over weak over local).
    init(symbols: [RawSymbol]) {
        let sorted = symbols.sorted { ($0.address, $0.rank, $0.name.utf8.count) < ($1.address, $1.rank, $1.name.utf8.count) }
        var starts: [UInt64] = []
        var sizes: [UInt64] = []
        var names: [String] = []
        starts.reserveCapacity(sorted.count)
        sizes.reserveCapacity(sorted.count)
        names.reserveCapacity(sorted.count)
        for symbol in sorted {
            if let last = starts.last, last == symbol.address {
                // Same address: keep the preferred name, but the largest known size.
                if symbol.size > sizes[sizes.count - 1] { sizes[sizes.count - 1] = symbol.size }
                continue
            }
            starts.append(symbol.address)
            sizes.append(symbol.size)
            names.append(symbol.name)
        }
        var ends = [UInt64](repeating: 0, count: starts.count)
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
        self.rawNames = names
        self.demangled = Array(repeating: nil, count: starts.count)
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

    func rawName(at index: Int) -> String { rawNames[index] }

    func name(at index: Int, demangling: Bool) -> DemangledName {
        if let cached = demangled[index] { return cached }
        let name = demangling ? Demangler.demangle(rawNames[index])
            : DemangledName(name: rawNames[index], language: .unmangled)
        demangled[index] = name
        return name
    }
}
