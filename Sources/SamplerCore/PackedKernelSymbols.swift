import WireFormat

/// The kernel's text symbols, held from start-up for the start of every stream, packed:
/// addresses, types and module numbers in flat arrays and the names in one byte buffer.
/// `[KernelSymbol]` spends a 48-byte entry and a heap string per symbol (about 12 MiB
/// for a Debian kernel's 120 000); this is about a third of that.
public struct PackedKernelSymbols: Sendable, ExpressibleByArrayLiteral {
    private var addresses: [UInt64] = []
    private var types: [UInt8] = []
    /// Where each name ends in `names`; it starts where the previous one ends.
    private var nameEnds: [UInt32] = []
    private var names: [UInt8] = []
    /// Index into `modules`; 0 is the kernel itself (no module).
    private var moduleIndices: [UInt16] = []
    private var modules: [String] = [""]

    public init(_ symbols: [KernelSymbol]) {
        addresses.reserveCapacity(symbols.count)
        types.reserveCapacity(symbols.count)
        nameEnds.reserveCapacity(symbols.count)
        moduleIndices.reserveCapacity(symbols.count)
        names.reserveCapacity(symbols.reduce(0) { $0 + $1.name.utf8.count })
        var moduleIndex: [String: UInt16] = ["": 0]
        for symbol in symbols {
            // More modules than a UInt16 counts (never seen: a kernel has a few hundred)
            // lose their module name, not the symbol.
            var module = moduleIndex[symbol.module] ?? 0
            if moduleIndex[symbol.module] == nil, modules.count <= Int(UInt16.max) {
                module = UInt16(modules.count)
                moduleIndex[symbol.module] = module
                modules.append(symbol.module)
            }
            addresses.append(symbol.address)
            types.append(symbol.type)
            names.append(contentsOf: symbol.name.utf8)
            nameEnds.append(UInt32(truncatingIfNeeded: names.count))
            moduleIndices.append(module)
        }
    }

    public init(arrayLiteral symbols: KernelSymbol...) {
        self.init(symbols)
    }

    public var count: Int { addresses.count }

    /// Whether every address is 0: `kernel.kptr_restrict` hid them.
    public var addressesHidden: Bool { !addresses.isEmpty && addresses.allSatisfy { $0 == 0 } }

    /// The symbols at `range`, unpacked for one record.
    public subscript(range: Range<Int>) -> [KernelSymbol] {
        range.map { index in
            let start = index == 0 ? 0 : Int(nameEnds[index - 1])
            let name = String(decoding: names[start..<Int(nameEnds[index])], as: UTF8.self)
            return KernelSymbol(address: addresses[index], type: types[index], name: name,
                                module: modules[Int(moduleIndices[index])])
        }
    }
}
