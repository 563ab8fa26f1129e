/// What a stream tells about the sampled host and the sampler that ran there, for the
/// exporters that describe hosts apart from their samples (Elasticsearch's `profiling-hosts`).
public struct SampledHost: Hashable, Sendable {
    /// `uname -r` of the sampled host (the stream header's kernel release).
    public var kernelRelease: String
    /// `uname -m` of the sampled host (`x86_64`, `aarch64`); nil when the aggregator does not
    /// run on that host (a replay), for the header does not carry it.
    public var machine: String?
    /// The version string of the sampler that wrote the stream.
    public var samplerVersion: String
    /// The CPUs the sampler sampled.
    public var cpuCount: UInt32
    /// When the sampler process started, in Unix milliseconds; nil if the stream does not say.
    public var samplerStartUnixMillis: UInt64?

    public init(kernelRelease: String = "", machine: String? = nil, samplerVersion: String = "",
                cpuCount: UInt32 = 0, samplerStartUnixMillis: UInt64? = nil) {
        self.kernelRelease = kernelRelease
        self.machine = machine
        self.samplerVersion = samplerVersion
        self.cpuCount = cpuCount
        self.samplerStartUnixMillis = samplerStartUnixMillis
    }
}
