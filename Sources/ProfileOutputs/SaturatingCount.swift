extension Int64 {
    /// Adds `other`, holding at `Int64.max`: an off-CPU profile's counts are nanoseconds
    /// from the stream, and a hostile one (waits near 2^63 ns) must not trap the sums.
    mutating func saturatingAdd(_ other: Int64) {
        let (sum, overflow) = addingReportingOverflow(other)
        self = overflow ? (other < 0 ? .min : .max) : sum
    }
}

extension Sequence {
    /// The sum of `value` over the elements, holding at `Int64.max` (see `saturatingAdd`).
    func saturatingSum(_ value: (Element) -> Int64) -> Int64 {
        reduce(into: 0) { $0.saturatingAdd(value($1)) }
    }
}
