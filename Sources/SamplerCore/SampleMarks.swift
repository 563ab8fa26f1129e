/// The stream offsets at which queued samples end, oldest first: a sample counts as
/// sent once the bytes written pass its end, and the ones left when a stream ends are
/// counted as discarded unsent. One 8-byte offset per queued sample: with about 10 bytes
/// per sample once stacks repeat (docs/benchmarks.md), the marks take at most about as
/// much memory as the samples' share of the bounded buffer (6 MB of the default 8 MB).
struct SampleMarks {
    private var ends: [UInt64] = []
    private var start = 0

    var count: Int { ends.count - start }

    /// Notes a sample whose last byte is at stream offset `end - 1`; offsets only grow.
    mutating func append(end: UInt64) {
        ends.append(end)
    }

    /// Removes the samples that end at or before `written`; returns how many.
    mutating func removeWritten(upTo written: UInt64) -> Int {
        let first = start
        while start < ends.count, ends[start] <= written { start += 1 }
        let removed = start - first
        if start == ends.count {
            ends.removeAll(keepingCapacity: true)
            start = 0
        } else if start > ends.count / 2, start > 4096 {
            ends.removeSubrange(0..<start)
            start = 0
        }
        return removed
    }

    /// Removes every mark; returns how many there were.
    mutating func removeAll() -> Int {
        let removed = count
        ends.removeAll()
        start = 0
        return removed
    }
}
