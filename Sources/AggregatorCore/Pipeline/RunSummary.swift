import WireFormat

/// Counters of what the aggregator received and did, over one or more streams.
public struct RunSummary: Hashable, Sendable, CustomStringConvertible {
    public var streams = 0
    /// Streams that ended with a decoding error (the error is logged).
    public var malformedStreams = 0
    public var bytes = 0
    public var samples = 0
    /// Of `samples`, the off-CPU ones, and the time they stand for.
    public var offCPUSamples = 0
    public var offCPUNanoseconds: UInt64 = 0
    public var processes = 0
    /// Sampler-side drops by reason: the newest statistics of each sampler run (a run
    /// that reconnected counts once; see `SamplerRun`).
    public var samplerDrops: [String: UInt64] = [:]
    /// Events the samplers chose and could not record, which are not samples (off-CPU
    /// waits whose record found no room), by counter; newest statistics of each run.
    public var samplerUnrecorded: [String: UInt64] = [:]
    /// Samples the samplers say they collected (newest statistics of each run).
    public var samplerCollected: UInt64 = 0
    /// Of `samples`, those a replay's `--skip-seconds` left out of every output.
    public var skippedSamples = 0
    /// Samples of pids no process record described.
    public var unknownProcessSamples = 0
    public var framesResolved = 0
    public var framesUnresolved = 0
    public var hostNames: Set<String> = []
    /// Streams not finished when the summary was taken (at exit: stuck, or still open when
    /// the shutdown wait ended), and the samples they had decoded: received, but missing
    /// from the profiles and from their metrics windows still open, so counted as lost.
    public var unfinishedStreams = 0
    public var unfinishedSamples = 0
    /// What the aggregator itself dropped at its bounds, by the limit's setting
    /// (`max_processes_per_window` counts samples missing from the metrics,
    /// `max_profile_stacks` samples missing from the file outputs' profile only, the
    /// receiver's other `max_*` records, mappings and kernel symbols).
    public var aggregatorDrops: [String: UInt64] = [:]

    /// The `aggregatorDrops` key of the samples (their weights: timestamps) the profile
    /// behind the file outputs dropped at `max_profile_stacks`; they are in the metrics.
    public static let profileDropsKey = "max_profile_stacks, profile samples"
    /// The `aggregatorDrops` key of the off-CPU time (nanoseconds) the off-CPU profile dropped there.
    public static let offCPUProfileDropsKey = "max_profile_stacks, off-CPU profile nanoseconds"

    public init() {}

    /// Adds waited time, holding at `UInt64.max` (a hostile stream's waits must not wrap it).
    mutating func addOffCPU(nanoseconds: UInt64) {
        let (sum, overflow) = offCPUNanoseconds.addingReportingOverflow(nanoseconds)
        offCPUNanoseconds = overflow ? .max : sum
    }

    mutating func merge(_ other: RunSummary) {
        streams += other.streams
        malformedStreams += other.malformedStreams
        bytes += other.bytes
        samples += other.samples
        offCPUSamples += other.offCPUSamples
        addOffCPU(nanoseconds: other.offCPUNanoseconds)
        processes += other.processes
        samplerDrops.merge(other.samplerDrops, uniquingKeysWith: +)
        samplerUnrecorded.merge(other.samplerUnrecorded, uniquingKeysWith: +)
        samplerCollected += other.samplerCollected
        skippedSamples += other.skippedSamples
        unknownProcessSamples += other.unknownProcessSamples
        framesResolved += other.framesResolved
        framesUnresolved += other.framesUnresolved
        hostNames.formUnion(other.hostNames)
        unfinishedStreams += other.unfinishedStreams
        unfinishedSamples += other.unfinishedSamples
        aggregatorDrops.merge(other.aggregatorDrops, uniquingKeysWith: +)
    }

    public var totalSamplerDrops: UInt64 { samplerDrops.values.reduce(0, +) }

    public var description: String {
        var lines = ["streams: \(streams) (\(malformedStreams) malformed), \(bytes) bytes",
                     "samples received: \(samples); sampler collected \(samplerCollected), dropped \(totalSamplerDrops)"]
        if offCPUSamples > 0 {
            lines.append("off-CPU samples: \(offCPUSamples) (of the samples received), \(offCPUNanoseconds / 1_000_000) ms of waiting")
        }
        if skippedSamples > 0 {
            lines.append("skipped: \(skippedSamples) samples taken before --skip-seconds (in no output)")
        }
        for (reason, count) in samplerDrops.sorted(by: { $0.key < $1.key }) where count > 0 {
            lines.append("  dropped (\(reason)): \(count)")
        }
        for (counter, count) in samplerUnrecorded.sorted(by: { $0.key < $1.key }) where count > 0 {
            lines.append("  not recorded by the sampler (\(counter)): \(count) (off-CPU waits whose time is missing: its map of threads off the CPU was full)")
        }
        for (limit, count) in aggregatorDrops.sorted(by: { $0.key < $1.key }) where count > 0 {
            lines.append("  dropped by the aggregator (\(limit)): \(count)")
        }
        if unfinishedStreams > 0 {
            lines.append("lost: \(unfinishedSamples) samples of \(unfinishedStreams) unfinished streams (not in the profiles or their last metrics windows)")
        }
        let frames = framesResolved + framesUnresolved
        let share = frames == 0 ? 100.0 : 100.0 * Double(framesResolved) / Double(frames)
        lines.append("frames named: \(framesResolved) of \(frames) (\(String(format1: share))%); samples of unknown processes: \(unknownProcessSamples)")
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// `value` with one decimal, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}
