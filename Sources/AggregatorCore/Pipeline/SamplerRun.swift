import WireFormat

/// One sampler from its start to its exit, over any number of streams (it reconnects
/// after an aggregator restart or a dropped connection). Its statistics counters are
/// cumulative over the run, so the run, not the stream, is what they are summed by.
enum SamplerRun: Hashable {
    /// Named by the stream header: host, boot and the sampler's start time.
    case named(host: String, bootID: String, startTime: UInt64)
    /// A stream whose header does not name its run (an older sampler, or a capture made
    /// by one): counted on its own, as if each stream were a run; by its `StreamTally.number`.
    case stream(UInt64)

    init(header: StreamHeader?, stream: UInt64) {
        if let header, header.samplerStartTime != 0 {
            self = .named(host: header.hostName, bootID: header.bootID, startTime: header.samplerStartTime)
        } else {
            self = .stream(stream)
        }
    }
}
