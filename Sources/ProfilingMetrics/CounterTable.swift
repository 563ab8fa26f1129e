/// Counters keyed by a packed 64-bit series key: an open-addressing hash table
/// with linear probing and a multiplicative hash, because `Dictionary`'s
/// SipHash costs more than the rest of counting a sample.
struct CounterTable {
    /// Marks an empty slot; no packed key equals it (resource ids stay below `UInt32.max`).
    static let empty = UInt64.max

    private(set) var keys: [UInt64]
    private(set) var values: [Int64]
    private(set) var count = 0
    private var mask: Int

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: Self.empty, count: size)
        values = Array(repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Adds `amount` to the counter of `key`.
    @inline(__always)
    mutating func add(_ key: UInt64, _ amount: Int64) {
        var index = Self.slot(key, mask)
        while true {
            let existing = keys[index]
            if existing == key {
                values[index] &+= amount
                return
            }
            if existing == Self.empty {
                keys[index] = key
                values[index] = amount
                count += 1
                if count * 4 > keys.count * 3 { grow() }
                return
            }
            index = (index + 1) & mask
        }
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let size = keys.count * 2
        keys = Array(repeating: Self.empty, count: size)
        values = Array(repeating: 0, count: size)
        mask = size - 1
        count = 0
        for (key, value) in zip(oldKeys, oldValues) where key != Self.empty { add(key, value) }
    }

    /// Every (key, value) pair, in slot order.
    var entries: [(key: UInt64, value: Int64)] {
        var result: [(key: UInt64, value: Int64)] = []
        result.reserveCapacity(count)
        for (key, value) in zip(keys, values) where key != Self.empty { result.append((key, value)) }
        return result
    }
}
