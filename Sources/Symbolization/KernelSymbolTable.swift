import Profiles
import WireFormat

/// The kernel's text symbols (from the streamed /proc/kallsyms) and module
/// ranges (/proc/modules), searched by address.
struct KernelSymbolTable {
    /// Sorted by address. Names are NUL-terminated in `names` (a String per symbol
    /// would cost three times as much: the kernel has 100,000 text symbols).
    private var starts: [UInt64] = []
    private var nameOffsets: [UInt32] = []
    /// Index into `moduleList` plus one; 0 for vmlinux.
    private var moduleIndices: [UInt32] = []
    private var names: [UInt8] = []
    private var pending: [(address: UInt64, nameOffset: UInt32, module: UInt32)] = []
    private var moduleRanges: [(start: UInt64, end: UInt64, name: String)] = []
    private var moduleNames: [String: String] = [:]
    /// `[module]` names of symbols, and each one's index.
    private var moduleList: [String] = []
    private var moduleIndex: [String: UInt32] = [:]
    /// Bytes of `moduleList`, counted with the names against the limit.
    private var moduleNameBytes = 0
    /// The frame names of symbols already looked up, by offset in `names`: every frame
    /// of a function shares one `FrameNames` (its name and module) instead of holding
    /// its own copies. At most one per symbol held.
    private var namesCache: [UInt32: FrameNames] = [:]

    var count: Int { starts.count + pending.count }
    var moduleCount: Int { moduleRanges.count }

    mutating func removeAll() {
        starts = []
        nameOffsets = []
        moduleIndices = []
        names = []
        pending = []
        namesCache = [:]
    }

    /// Average bytes of name allowed per symbol of the limit (kallsyms names average
    /// about 25 bytes; the kernel's own bound on one is 512).
    static let nameBytesPerSymbol = 64

    /// Adds a chunk; the table is re-sorted on the next lookup. Keeps at most `limit`
    /// symbols and `limit * nameBytesPerSymbol` bytes of names in all; returns how many
    /// text symbols it dropped for that.
    mutating func add(_ symbols: [KernelSymbol], limit: Int = .max) -> Int {
        var dropped = 0
        let nameBytesLimit = limit.multipliedReportingOverflow(by: Self.nameBytesPerSymbol)
        // Only text symbols can be in a stack; data symbols would shadow them.
        // Zero addresses come from a kallsyms read without the right to see them.
        for symbol in symbols where symbol.address != 0 {
            switch symbol.type {
            case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W"): break
            default: continue
            }
            let moduleBytes = symbol.module.isEmpty || moduleIndex[symbol.module] != nil ? 0 : symbol.module.utf8.count + 2
            guard count < limit, nameBytesLimit.overflow
                    || names.count + moduleNameBytes + symbol.name.utf8.count + 1 + moduleBytes <= nameBytesLimit.partialValue else {
                dropped += 1
                continue
            }
            let offset = UInt32(truncatingIfNeeded: names.count)
            names.append(contentsOf: symbol.name.utf8)
            names.append(0)
            pending.append((symbol.address, offset, symbol.module.isEmpty ? 0 : index(ofModule: symbol.module)))
        }
        return dropped
    }

    private mutating func index(ofModule module: String) -> UInt32 {
        if let index = moduleIndex[module] { return index }
        moduleList.append(bracketed(module))
        moduleNameBytes += module.utf8.count + 2
        let index = UInt32(moduleList.count)
        moduleIndex[module] = index
        return index
    }

    mutating func setModules(_ modules: [KernelModule]) {
        moduleRanges = modules.map { ($0.start, $0.start &+ $0.size, $0.name) }.sorted { $0.start < $1.start }
    }

    private mutating func bracketed(_ module: String) -> String {
        if let name = moduleNames[module] { return name }
        let name = module.hasPrefix("[") ? module : "[\(module)]"
        // Module records replace each other; the names of old ones need not stay.
        if moduleNames.count >= 1 << 14 { moduleNames.removeAll() }
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
        var mergedNameOffsets: [UInt32] = []
        var mergedModules: [UInt32] = []
        let total = starts.count + added.count
        mergedStarts.reserveCapacity(total)
        mergedNameOffsets.reserveCapacity(total)
        mergedModules.reserveCapacity(total)
        var old = 0
        var new = 0
        while old < starts.count || new < added.count {
            if new == added.count || (old < starts.count && starts[old] <= added[new].address) {
                mergedStarts.append(starts[old])
                mergedNameOffsets.append(nameOffsets[old])
                mergedModules.append(moduleIndices[old])
                old += 1
            } else {
                let symbol = added[new]
                mergedStarts.append(symbol.address)
                mergedNameOffsets.append(symbol.nameOffset)
                mergedModules.append(symbol.module)
                new += 1
            }
        }
        starts = mergedStarts
        nameOffsets = mergedNameOffsets
        moduleIndices = mergedModules
        // Give back the room the names grew into: the table is complete until the next reset.
        if names.capacity > names.count + names.count / 8 {
            names = names.withUnsafeBufferPointer { Array($0) }
        }
    }

    /// The shared names of the symbol at `index` in `module` (its module's name, the
    /// same for every address of the symbol).
    private mutating func frameNames(at index: Int, module: String?) -> FrameNames {
        let offset = nameOffsets[index]
        if let cached = namesCache[offset], cached.mappingPath == module { return cached }
        let start = Int(offset)
        let end = names[start...].firstIndex(of: 0) ?? names.count
        let named = FrameNames(functionName: String(decoding: names[start..<end], as: UTF8.self), mappingPath: module,
                               sourceFile: nil)
        namesCache[offset] = named
        return named
    }

    private func moduleName(at index: Int) -> String? {
        moduleIndices[index] == 0 ? nil : moduleList[Int(moduleIndices[index]) - 1]
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

    /// The names of the symbol at or before `address` (kallsyms has no sizes: a symbol
    /// ends where the next begins), shared by every lookup of that symbol; only the
    /// module's name (or none) when no symbol covers it. In a module's range only that
    /// module's symbols count.
    mutating func lookup(_ address: UInt64) -> FrameNames {
        mergePending()
        let module = self.module(containing: address)
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= address { low = middle + 1 } else { high = middle }
        }
        let moduleName = module.map { bracketed($0.name) }
        guard low > 0 else { return .of(functionName: nil, mappingPath: moduleName, sourceFile: nil) }
        let index = low - 1
        if let module {
            guard starts[index] >= module.start else { return .of(functionName: nil, mappingPath: moduleName, sourceFile: nil) }
            return frameNames(at: index, module: moduleName)
        }
        // Past the last symbol of the core kernel and outside any module: unknown.
        if index == starts.count - 1 && moduleIndices[index] == 0 && address - starts[index] > 1 << 20 {
            return .none
        }
        return frameNames(at: index, module: self.moduleName(at: index))
    }
}
