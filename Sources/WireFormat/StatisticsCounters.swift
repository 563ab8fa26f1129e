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

    private var codes: [UInt64] = []
    private var values: [UInt64] = []

    public init() {}

    /// Room for `minimumCapacity` counters before the storage grows.
    public init(minimumCapacity: Int) {
        codes.reserveCapacity(minimumCapacity)
        values.reserveCapacity(minimumCapacity)
    }

    /// The pairs in any order; of two with the same counter, the later wins (as a stream's
    /// record read into a dictionary did). Sorts once: a record from the stream may hold
    /// its counters in any order, and inserting each in place would cost its count squared.
    public init<Pairs: Sequence>(pairs: Pairs) where Pairs.Element == (StatisticsCounter, UInt64) {
        let ordered = pairs.enumerated().sorted { left, right in
            left.element.0.rawValue != right.element.0.rawValue
                ? left.element.0.rawValue < right.element.0.rawValue : left.offset < right.offset
        }
        codes.reserveCapacity(ordered.count)
        values.reserveCapacity(ordered.count)
        for (_, (counter, value)) in ordered {
            if codes.last == counter.rawValue {
                values[values.count - 1] = value
            } else {
                codes.append(counter.rawValue)
                values.append(value)
            }
        }
    }

    public init(dictionaryLiteral elements: (StatisticsCounter, UInt64)...) {
        self.init(pairs: elements)
    }

    public var count: Int { codes.count }
    public var isEmpty: Bool { codes.isEmpty }

    /// The value of `counter`, nil if the record does not hold it. Setting nil removes it.
    public subscript(_ counter: StatisticsCounter) -> UInt64? {
        get {
            let index = position(of: counter.rawValue)
            return index < codes.count && codes[index] == counter.rawValue ? values[index] : nil
        }
        set {
            let index = position(of: counter.rawValue)
            let present = index < codes.count && codes[index] == counter.rawValue
            switch (present, newValue) {
            case (true, let value?): values[index] = value
            case (true, nil):
                codes.remove(at: index)
                values.remove(at: index)
            case (false, let value?):
                codes.insert(counter.rawValue, at: index)
                values.insert(value, at: index)
            case (false, nil): break
            }
        }
    }

    /// The index of the first code not below `code` (binary search; appending in code
    /// order, as the sampler mostly does, ends at once).
    private func position(of code: UInt64) -> Int {
        if let last = codes.last, last < code { return codes.count }
        var low = 0
        var high = codes.count
        while low < high {
            let middle = (low + high) / 2
            if codes[middle] < code { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let counters: StatisticsCounters
        fileprivate var index = 0

        public mutating func next() -> Element? {
            guard index < counters.codes.count else { return nil }
            defer { index += 1 }
            return (StatisticsCounter(rawValue: counters.codes[index]), counters.values[index])
        }
    }

    public func makeIterator() -> Iterator { Iterator(counters: self) }

    public var underestimatedCount: Int { codes.count }
}
