import WireFormat

/// The kernel's text symbols (from the streamed /proc/kallsyms) and module
/// ranges (/proc/modules), searched by address.
struct KernelSymbolTable {
    private var starts: [UInt64] = []
    private var names: [String] = []
    /// `[module]` for module symbols, nil for vmlinux.
    private var modules: [String?] = []
    private var pending: [KernelSymbol] = []
    private var moduleRanges: [(start: UInt64, end: UInt64, name: String)] = []
    private var moduleNames: [String: String] = [:]

    var count: Int { starts.count + pending.count }
    var moduleCount: Int { moduleRanges.count }

    mutating func removeAll() {
        starts = []
        names = []
        modules = []
        pending = []
    }

    /// Adds a chunk; the table is re-sorted on the next lookup.
    mutating func add(_ symbols: [KernelSymbol]) {
        // Only text symbols can be in a stack; data symbols would shadow them.
        // Zero addresses come from a kallsyms read without the right to see them.
        pending.reserveCapacity(pending.count + symbols.count)
        for symbol in symbols where symbol.address != 0 {
            switch symbol.type {
            case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W"): pending.append(symbol)
            default: continue
            }
        }
    }

    mutating func setModules(_ modules: [KernelModule]) {
        moduleRanges = modules.map { ($0.start, $0.start &+ $0.size, $0.name) }.sorted { $0.start < $1.start }
    }

    private mutating func bracketed(_ module: String) -> String {
        if let name = moduleNames[module] { return name }
        let name = module.hasPrefix("[") ? module : "[\(module)]"
        moduleNames[module] = name
        return name
    }

    /// Merges the pending chunks into the sorted table in linear time (chunks may
    /// arrive between samples; re-sorting the whole table each time would not be).
    private mutating func mergePending() {
        guard !pending.isEmpty else { return }
        let added = pending.sorted { $0.address < $1.address }
        pending = []
        var mergedStarts: [UInt64] = []
        var mergedNames: [String] = []
        var mergedModules: [String?] = []
        let total = starts.count + added.count
        mergedStarts.reserveCapacity(total)
        mergedNames.reserveCapacity(total)
        mergedModules.reserveCapacity(total)
        var old = 0
        var new = 0
        while old < starts.count || new < added.count {
            if new == added.count || (old < starts.count && starts[old] <= added[new].address) {
                mergedStarts.append(starts[old])
                mergedNames.append(names[old])
                mergedModules.append(modules[old])
                old += 1
            } else {
                let symbol = added[new]
                mergedStarts.append(symbol.address)
                mergedNames.append(symbol.name)
                mergedModules.append(symbol.module.isEmpty ? nil : bracketed(symbol.module))
                new += 1
            }
        }
        starts = mergedStarts
        names = mergedNames
        modules = mergedModules
    }

    private func module(containing address: UInt64) -> (start: UInt64, end: UInt64, name: String)? {
        var low = 0
        var high = moduleRanges.count
        while low < high {
            let middle = (low + high) / 2
            if moduleRanges[middle].start <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, address < moduleRanges[low - 1].end else { return nil }
        return moduleRanges[low - 1]
    }

    /// The symbol at or before `address` (kallsyms has no sizes: a symbol ends where
    /// the next begins). In a module's range only that module's symbols count.
    mutating func lookup(_ address: UInt64) -> (name: String?, module: String?) {
        mergePending()
        let module = self.module(containing: address)
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= address { low = middle + 1 } else { high = middle }
        }
        let moduleName = module.map { bracketed($0.name) }
        guard low > 0 else { return (nil, moduleName) }
        let index = low - 1
        if let module {
            guard starts[index] >= module.start else { return (nil, moduleName) }
            return (names[index], moduleName)
        }
        // Past the last symbol of the core kernel and outside any module: unknown.
        if index == starts.count - 1 && modules[index] == nil && address - starts[index] > 1 << 20 {
            return (nil, nil)
        }
        return (names[index], modules[index])
    }
}
