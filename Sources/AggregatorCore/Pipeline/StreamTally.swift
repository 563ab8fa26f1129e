import Synchronization

/// What one stream has decoded so far, readable from any thread while the stream's own
/// thread runs: the periodic statistics line counts it, and if the stream never finishes
/// (its connection stuck or still open when the shutdown wait ends) the final summary
/// reports its samples as lost instead of leaving them out without a number.
final class StreamTally: Sendable {
    private let decodedSamples = Atomic<Int>(0)

    var samples: Int { decodedSamples.load(ordering: .relaxed) }

    func add(samples: Int) {
        decodedSamples.add(samples, ordering: .relaxed)
    }
}
