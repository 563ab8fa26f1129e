/// The samples of one stream over one flush interval: what the exporters of a
/// `profiles` pipeline receive.
public struct ProfilesBatch: Sendable {
    /// The sampled host's name, from the stream header.
    public var hostName: String
    /// The host's `/etc/machine-id`, when the aggregator runs on the sampled host (`serve`);
    /// nil for replays, whose capture may come from elsewhere.
    public var hostID: String?
    /// The sampling frequency per CPU; the profile's period is `1e9 / samplesPerSecond` ns.
    public var samplesPerSecond: UInt32
    /// The interval the batch covers, in Unix nanoseconds: its first and last timestamp.
    public var startUnixNano: UInt64
    public var endUnixNano: UInt64
    /// The on-CPU samples, with `timestamps` in Unix (wall-clock) nanoseconds.
    public var samples: [SymbolizedSample]
    /// The off-CPU samples (`offCPUNanoseconds` > 0), timestamped as `samples`: apart, so
    /// that an exporter of on-CPU profiles only (Elasticsearch's) cannot take them for CPU time.
    public var offCPUSamples: [SymbolizedSample]
    /// The identities of the files the frames are in, by `Frame.mappingPath`, where the
    /// symbolizer read the file. By path: two different files mapped at one path (in two
    /// containers) in one batch get the first one's.
    public var fileIdentities: [String: MappedFileIdentity]
    /// The sampled host's kernel and machine and its sampler, from the stream.
    public var host: SampledHost

    public init(hostName: String, hostID: String? = nil, samplesPerSecond: UInt32,
                startUnixNano: UInt64, endUnixNano: UInt64, samples: [SymbolizedSample],
                fileIdentities: [String: MappedFileIdentity] = [:], offCPUSamples: [SymbolizedSample] = [],
                host: SampledHost = SampledHost()) {
        self.host = host
        self.offCPUSamples = offCPUSamples
        self.hostName = hostName
        self.hostID = hostID
        self.samplesPerSecond = samplesPerSecond
        self.startUnixNano = startUnixNano
        self.endUnixNano = endUnixNano
        self.samples = samples
        self.fileIdentities = fileIdentities
    }

    public var isEmpty: Bool { samples.isEmpty && offCPUSamples.isEmpty }

    /// The on-CPU events the batch stands for (a sample may carry several timestamps).
    public var sampleCount: Int64 { samples.reduce(0) { $0 + $1.weight } }
}

/// What identifies a mapped file across hosts, as lowercase hex, and how its file
/// offsets map to its link-time addresses.
public struct MappedFileIdentity: Hashable, Sendable {
    /// The ELF `NT_GNU_BUILD_ID` note.
    public var gnuBuildID: String?
    /// Universal Profiling's file ID (16 bytes of SHA-256 over the file's ends and length).
    public var fileID: String?
    /// The file's `PT_LOAD` segments: Universal Profiling names a native frame by its
    /// link-time (ELF virtual) address, which these give from the file offset.
    public var segments: [FileSegment]

    public init(gnuBuildID: String?, fileID: String?, segments: [FileSegment] = []) {
        self.gnuBuildID = gnuBuildID
        self.fileID = fileID
        self.segments = segments
    }

    /// The link-time address of `fileOffset`, through the segment that holds it
    /// (executable segments first: that is where code is); nil when none does.
    public func virtualAddress(fileOffset: UInt64) -> UInt64? {
        FileSegment.virtualAddress(of: fileOffset, in: segments)
    }
}

/// One `PT_LOAD` segment of an ELF file: where it is in the file and at which address it links.
public struct FileSegment: Hashable, Sendable {
    public var fileOffset: UInt64
    public var virtualAddress: UInt64
    public var fileSize: UInt64
    public var isExecutable: Bool

    public init(fileOffset: UInt64, virtualAddress: UInt64, fileSize: UInt64, isExecutable: Bool) {
        self.fileOffset = fileOffset
        self.virtualAddress = virtualAddress
        self.fileSize = fileSize
        self.isExecutable = isExecutable
    }

    /// The link-time address of `fileOffset` through the segment of `segments` that holds
    /// it, executable segments first (that is where code is); nil when none does.
    @inlinable
    public static func virtualAddress(of fileOffset: UInt64, in segments: [FileSegment]) -> UInt64? {
        for segment in segments where segment.isExecutable && segment.holds(fileOffset) {
            return fileOffset - segment.fileOffset &+ segment.virtualAddress
        }
        for segment in segments where segment.holds(fileOffset) {
            return fileOffset - segment.fileOffset &+ segment.virtualAddress
        }
        return nil
    }

    @inlinable
    func holds(_ offset: UInt64) -> Bool { offset >= fileOffset && offset - fileOffset < fileSize }
}
