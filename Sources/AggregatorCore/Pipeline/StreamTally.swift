import Synchronization

/// What one stream has decoded so far, readable from any thread while the stream's own
/// thread runs: the periodic statistics line counts it, and if the stream never finishes
/// (its connection stuck or still open when the shutdown wait ends) the final summary
/// reports its samples as lost instead of leaving them out without a number.
final class StreamTally: Sendable {
    /// The stream's number in its run of the aggregator, from 1: unique, unlike the
    /// address of a tally, which a later stream's may reuse.
    let number: UInt64
    private let decodedSamples = Atomic<Int>(0)

    init(number: UInt64) {
        self.number = number
    }

    var samples: Int { decodedSamples.load(ordering: .relaxed) }

    func add(samples: Int) {
        decodedSamples.add(samples, ordering: .relaxed)
    }
}
