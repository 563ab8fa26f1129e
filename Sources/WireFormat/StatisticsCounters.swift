/// Counter values by counter, kept in the order of their wire codes: the body of a
/// statistics record (`SamplerStatistics`).
///
/// A sorted array rather than a `Dictionary`: the sampler builds one every second from
/// about 75 counters, and hashing each of them, then sorting them for the encoder, was a
/// fifth of the sampler's CPU profile at 19 Hz. Here a counter is found by binary search, set in
/// place, and the encoder writes the entries as they lie. Reads and writes look like a
/// dictionary's (`counters[.drains] = 3`, `counters[.drains] ?? 0`); iteration is in code
/// order.
public struct StatisticsCounters: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: StatisticsCounter, value: UInt64)

    private struct Entry: Hashable, Sendable {
        var code: UInt64
        var value: UInt64
    }

    /// Sorted by code, one entry per code.
    private var entries: [Entry] = []

    public init() {}

    /// Room for `minimumCapacity` counters before the storage grows.
    public init(minimumCapacity: Int) {
        entries.reserveCapacity(minimumCapacity)
    }

    /// The pairs in any order; of two with the same counter, the later wins (as a stream's
    /// record read into a dictionary did). Sorts once: a record from the stream may hold
    /// its counters in any order, and inserting each in place would cost its count squared.
    public init<Pairs: Sequence>(pairs: Pairs) where Pairs.Element == (StatisticsCounter, UInt64) {
        let ordered = pairs.enumerated().sorted { left, right in
            left.element.0.rawValue != right.element.0.rawValue
                ? left.element.0.rawValue < right.element.0.rawValue : left.offset < right.offset
        }
        entries.reserveCapacity(ordered.count)
        for (_, (counter, value)) in ordered {
            if entries.last?.code == counter.rawValue {
                entries[entries.count - 1].value = value
            } else {
                entries.append(Entry(code: counter.rawValue, value: value))
            }
        }
    }

    public init(dictionaryLiteral elements: (StatisticsCounter, UInt64)...) {
        self.init(pairs: elements)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The value of `counter`, nil if the record does not hold it. Setting nil removes it.
    public subscript(_ counter: StatisticsCounter) -> UInt64? {
        get {
            let index = position(of: counter.rawValue)
            return index < entries.count && entries[index].code == counter.rawValue ? entries[index].value : nil
        }
        set {
            let index = position(of: counter.rawValue)
            let present = index < entries.count && entries[index].code == counter.rawValue
            switch (present, newValue) {
            case (true, let value?): entries[index].value = value
            case (true, nil): entries.remove(at: index)
            case (false, let value?): entries.insert(Entry(code: counter.rawValue, value: value), at: index)
            case (false, nil): break
            }
        }
    }

    /// The index of the first entry whose code is not below `code` (binary search; setting
    /// counters in code order ends at once).
    private func position(of code: UInt64) -> Int {
        if let last = entries.last, last.code < code { return entries.count }
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].code < code { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public func makeIterator() -> some IteratorProtocol<Element> {
        entries.lazy.map { (StatisticsCounter(rawValue: $0.code), $0.value) }.makeIterator()
    }

    public var underestimatedCount: Int { entries.count }
}
