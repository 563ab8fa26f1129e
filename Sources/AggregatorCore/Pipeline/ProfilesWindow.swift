import Profiles
import WireFormat

/// One stream's symbolized samples for the exporters of a `profiles` pipeline, cut
/// into one ``ProfilesBatch`` per interval of stream time (the receiver's
/// `reporter_interval`, as the upstream receiver reports a batch).
///
/// A batch holds what arrived during its interval; a sample of another CPU that comes
/// late goes into the next batch with its own timestamp. At most `maximumSamples` are
/// held; more are counted in `droppedSamples`.
struct ProfilesWindow {
    /// The most samples one batch holds (memory bound: a sample shares its frames with
    /// the symbolizer's cache, so this is about 100 bytes each).
    static let maximumSamples = 1_000_000

    let interval: UInt64
    private var samples: [SymbolizedSample] = []
    /// The off-CPU samples, held apart (`ProfilesBatch.offCPUSamples`); with `samples`
    /// within `maximumSamples`.
    private var offCPUSamples: [SymbolizedSample] = []
    /// Stream (monotonic) time the current batch started at.
    private var start: UInt64?
    private(set) var droppedSamples: UInt64 = 0
    /// The identities of the batch's files, by path, and what was already looked at.
    private var identities: [String: MappedFileIdentity] = [:]
    private var pathsWithoutIdentity: Set<String> = []
    private var stacksVisited: Set<UInt> = []

    init(interval: Duration) {
        let (seconds, attoseconds) = interval.components
        let nanoseconds = Int64(clamping: seconds) &* 1_000_000_000 &+ attoseconds / 1_000_000_000
        self.interval = UInt64(max(1, nanoseconds))
    }

    /// Adds `sample`, taken at stream time `time`; `fileIdentity(pid, path)` names the files
    /// of its frames now, while the symbolizer still holds its process (a short-lived one
    /// may be gone when the batch is cut).
    mutating func add(_ sample: SymbolizedSample, at time: UInt64, fileIdentity: (Int32, String) -> MappedFileIdentity?) {
        if start == nil { start = time }
        guard samples.count + offCPUSamples.count < Self.maximumSamples else {
            droppedSamples += UInt64(sample.weight)
            return
        }
        // Samples of one cached stack share one frames array, which the batch keeps alive:
        // its frames are looked at once.
        let storage = sample.frames.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        if storage == 0 || stacksVisited.insert(storage).inserted {
            for frame in sample.frames {
                guard let path = frame.mappingPath, identities[path] == nil, !pathsWithoutIdentity.contains(path) else { continue }
                if let identity = fileIdentity(sample.process.pid, path) {
                    identities[path] = identity
                } else {
                    pathsWithoutIdentity.insert(path)
                }
            }
        }
        if sample.offCPUNanoseconds > 0 {
            offCPUSamples.append(sample)
        } else {
            samples.append(sample)
        }
    }

    /// Whether the batch under way has lasted its interval at stream time `now`.
    func isDue(at now: UInt64) -> Bool {
        guard let start else { return false }
        return now >= start &+ interval
    }

    /// The batch under way, with wall-clock timestamps and its files' identities, and a new
    /// one begun; nil when empty.
    mutating func take(clock: ClockReference, hostName: String, hostID: String?, samplesPerSecond: UInt32,
                       host: SampledHost = SampledHost()) -> ProfilesBatch? {
        start = nil
        let fileIdentities = identities
        identities = [:]
        pathsWithoutIdentity = []
        stacksVisited = []
        guard !samples.isEmpty || !offCPUSamples.isEmpty else { return nil }
        var taken = samples
        var takenOffCPU = offCPUSamples
        samples = []
        offCPUSamples = []
        var first = UInt64.max
        var last = UInt64.min
        func toUnixTime(_ samples: inout [SymbolizedSample]) {
            for index in samples.indices {
                samples[index].timestamps = samples[index].timestamps.map { clock.unixNanoseconds(ofMonotonic: $0) }
                for time in samples[index].timestamps {
                    first = min(first, time)
                    last = max(last, time)
                }
            }
        }
        toUnixTime(&taken)
        toUnixTime(&takenOffCPU)
        return ProfilesBatch(hostName: hostName, hostID: hostID, samplesPerSecond: samplesPerSecond,
                             startUnixNano: first == .max ? 0 : first, endUnixNano: last, samples: taken,
                             fileIdentities: fileIdentities, offCPUSamples: takenOffCPU, host: host)
    }
}
