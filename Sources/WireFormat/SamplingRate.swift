/// The sampling frequency per CPU both daemons accept, in one place: the sampler's
/// `--samples-per-second` and configuration file, and the aggregator's
/// `receivers.profiling.samples_per_second`. The stream header carries the rate the
/// sampler ran at (`StreamHeader.samplesPerSecond`).
public enum SamplingRate {
    /// 1 to 10 000 samples per second per CPU. Above 10 kHz the kernel throttles the
    /// cpu-clock event (`perf_event_max_sample_rate`) and the sampler spends more time
    /// in the BPF program than the profile is worth.
    public static let range: ClosedRange<Int> = 1...10_000

    /// The rate the sampler and the aggregator use when none is given (upstream's is 20).
    public static let defaultSamplesPerSecond = 19

    /// Why `samplesPerSecond` is not an accepted rate, or nil when it is.
    public static func problem(with samplesPerSecond: Int) -> String? {
        range.contains(samplesPerSecond)
            ? nil
            : "\(samplesPerSecond) is not between \(range.lowerBound) and \(range.upperBound) samples per second"
    }
}
