import Configuration
import Profiles

/// Turns symbolized on-CPU samples into the metrics of Elastic's
/// `profilingmetrics` connector, aggregated in memory per process (resource)
/// and attribute set over windows of stream time.
///
/// One instance serves one stream and one thread. Feed samples with `add(_:)`;
/// call `flush(upTo:)` with the stream's current time (minus whatever lateness
/// the caller tolerates) to collect the windows that have ended; call
/// `finish(at:)` at the end of the stream for the rest.
///
/// Windows are aligned on multiples of their length in Unix time:
/// `[k·W, (k+1)·W)`; each data point's start time is its window's start and
/// its time the window's end. A sample arriving for a window already flushed
/// is counted in the oldest open window instead (and in `statistics.lateWeight`),
/// so totals are never lost.
///
/// Rules (see the reference page): a sample weighs its number of timestamps
/// (at least 1) in the `samples.*.count` sums, decided by its leaf frame; the
/// gauges count +1 per frame. Kernel leaves get the kernel classification
/// attributes; native leaves the `shlib_name`. `samples.classification` puts
/// the package/class in `classification` and the frame's type in `frame_type`
/// (the upstream connector swaps them; tandem does not).
public final class ProfilingMetricsConnector {
    /// The instrumentation scope of every metric, as upstream names it.
    public static let scopeName = "github.com/elastic/opentelemetry-collector-components/connector/profilingmetricsconnector"
    /// `profile.type_unit` of on-CPU sampling.
    public static let typeUnit = "samples_count"

    /// Counters about what was fed in.
    public struct Statistics: Hashable, Sendable {
        /// Samples added.
        public var samples: Int64 = 0
        /// Their total weight (timestamps).
        public var weight: Int64 = 0
        /// Weight of samples with no frame at all (counted as user samples).
        public var emptyStackWeight: Int64 = 0
        /// Weight of samples whose window was already flushed (counted in the oldest open window).
        public var lateWeight: Int64 = 0
        /// Go / JVM / native frames that `samples.classification` could not classify.
        public var unclassifiedFrames: Int64 = 0
        /// Samples (and their weight) of processes beyond `max_processes_per_window`: not counted.
        public var droppedSamples: Int64 = 0
        public var droppedWeight: Int64 = 0
    }

    public let settings: ProfilingMetricsSettings
    public let stream: MetricsStreamContext
    /// Window length in nanoseconds.
    public let windowNanoseconds: UInt64
    public private(set) var statistics = Statistics()

    private let scopeVersion: String
    private let enabled: [Bool]                 // by metric index
    private let countsEnabled: Bool
    private let userEnabled: Bool
    private let kernelEnabled: Bool
    private let leafMetricEnabled: [Bool]       // by frame type ordinal
    private let frameTypeEnabled: Bool
    private let classificationEnabled: Bool
    private let customEnabled: Bool
    private var aggregations: [(regex: Regex<AnyRegexOutput>, attributeSet: UInt32)] = []

    // Interned attribute sets; id 0 is the empty set.
    private var attributeSets: [[Attribute]] = [[]]
    private var attributeSetIDs: [[Attribute]: UInt32] = [[]: 0]
    private var frameTypeAttributeSets: [UInt32] = []  // by frame type ordinal

    // Caches, bounded by `cacheLimit` entries each.
    private static let cacheLimit = 1 << 16
    private static let stackCacheSlots = 1 << 15
    private var kernelStackCache: [UInt64: KernelCacheEntry] = [:]
    /// The classification behind each kernel attribute set: one per class and system call seen.
    private var kernelClassifications: [UInt32: KernelStackClassification] = [:]
    /// `samples.kernel.count` as emitted since ``takeEmittedKernelSamples()``, by classification.
    private var emittedKernelSamples: [KernelStackClassification: Int64] = [:]
    private var shlibCache: [String: UInt32] = [:]
    private var classificationCache: [[String: UInt32]]  // by frame type ordinal; `none` = unclassified
    /// In front of `classificationCache`: by the frame's `FrameNames` identity and type.
    /// 262,144 slots (4 MiB a stream): at 65,536, a host whose stacks reach hundreds of
    /// thousands of symbols fell through to the string-keyed cache for one frame in eight.
    private var classificationSlots: [(names: FrameNames?, ordinal: UInt8, set: UInt32)] =
        Array(repeating: (nil, 0, 0), count: ProfilingMetricsConnector.classificationSlotCount)
    private static let classificationSlotCount = 1 << 18
    private var customCache: [String: [UInt32]] = [:]
    private static let none = UInt32.max

    // Resources.
    private var resources: [UInt32: [Attribute]] = [:]
    private var resourceIDs: [ProcessIdentity: UInt32] = [:]
    private var resourceByPID: [Int32: (process: ProcessIdentity, id: UInt32)] = [:]
    private var nextResourceID: UInt32 = 0

    // Windows by index (Unix nanoseconds / window length).
    private var windows: [Int64: Window] = [:]
    private var current: Window?
    /// Windows below this index have been emitted.
    private var firstOpenWindow: Int64 = .min
    private var lastUnixTime: UInt64
    private let gaugesEnabled: Bool
    /// Direct-mapped by the hash of a stack's user part (what follows its kernel frames): a
    /// slot holds the last stack of its hash (another one replaces it). Bounded (48 bytes a
    /// slot, and the stacks held), and a lookup reaches one slot where a dictionary's hashed
    /// its key and probed its buckets.
    private var gaugeCache = [GaugeCacheEntry?](repeating: nil, count: ProfilingMetricsConnector.stackCacheSlots)
    private var shlibByAddress: [UInt64: (path: String, attributeSet: UInt32)] = [:]

    /// `frames` is the sample's own array (shared with the symbolizer's stack
    /// cache, not copied); only its first `count` frames are the key.
    private struct KernelCacheEntry {
        var frames: [Frame]
        var count: Int
        var attributeSet: UInt32
    }

    /// The gauge contributions of one stack's user part (its frames from `start`), cached
    /// by their names (`FrameNames` identity) and types and verified by them. `frames` is
    /// the sample's own array, shared with the symbolizer's stack cache rather than copied.
    private struct GaugeCacheEntry {
        var hash: UInt64
        var frames: [Frame]
        var start: Int
        /// (series without resource, +count) pairs.
        var gauges: [(series: UInt64, count: Int64)]
        var unclassifiedFrames: Int64
    }

    /// A series is packed in 64 bits: resource (32) | metric (5) | attribute set (27).
    private static let attributeSetLimit = UInt32(1) << 27

    @inline(__always)
    private static func series(metric: UInt8, attributes: UInt32) -> UInt64 {
        UInt64(metric) << 27 | UInt64(attributes)
    }

    @inline(__always)
    private static func series(resource: UInt32, metric: UInt8, attributes: UInt32) -> UInt64 {
        UInt64(resource) << 32 | series(metric: metric, attributes: attributes)
    }

    private final class Window {
        let index: Int64
        var counts = CounterTable()
        var lastSampleUnix: UInt64 = 0
        init(index: Int64) { self.index = index }
    }

    private static let metrics = ProfilingMetric.allCases
    private static func metricIndex(_ metric: ProfilingMetric) -> UInt8 {
        UInt8(metrics.firstIndex(of: metric)!)
    }
    private static let userIndex = metricIndex(.user)
    private static let kernelIndex = metricIndex(.kernel)
    private static let frameTypeIndex = metricIndex(.frameType)
    private static let classificationIndex = metricIndex(.classification)
    private static let customIndex = metricIndex(.customAggregation)
    private static let frameTypes = FrameType.allCases
    private static let leafMetricIndex: [UInt8] = frameTypes.map { metricIndex(.count(for: $0)) }

    @inline(__always)
    private static func ordinal(_ type: FrameType) -> Int {
        switch type {
        case .native: return 0
        case .kernel: return 1
        case .jvm: return 2
        case .cpython: return 3
        case .go: return 4
        case .v8js: return 5
        case .php: return 6
        case .perl: return 7
        case .ruby: return 8
        case .dotnet: return 9
        case .rust: return 10
        case .beam: return 11
        }
    }

    /// - Parameters:
    ///   - settings: the connector's settings.
    ///   - stream: host name and clock reference of the stream.
    ///   - batchInterval: the window when `settings.flushInterval` is 0s ("per
    ///     batch"): pass the receiver's `reporter_interval`
    ///     (`CollectorConfiguration.metricsWindow` does this choice).
    ///   - scopeVersion: the instrumentation scope version to report.
    ///   Windows shorter than 1 ms are lengthened to 1 ms.
    /// - Throws: `ConfigurationError` if an aggregation's expression does not compile
    ///   (settings read from a configuration were already checked).
    public init(settings: ProfilingMetricsSettings, stream: MetricsStreamContext,
                batchInterval: Duration = .seconds(5), scopeVersion: String = "") throws {
        precondition(Self.frameTypes.enumerated().allSatisfy { Self.ordinal($1) == $0 })
        self.settings = settings
        self.stream = stream
        self.scopeVersion = scopeVersion
        let window = settings.flushInterval > .zero ? settings.flushInterval : batchInterval
        // At least 1 ms, so that window indices stay small and windows few.
        windowNanoseconds = UInt64(max(1_000_000, window.nanosecondsClamped))
        lastUnixTime = stream.realtimeNanoseconds

        let enabled = Self.metrics.map { settings.isEnabled($0) }
        self.enabled = enabled
        userEnabled = settings.isEnabled(.user)
        kernelEnabled = settings.isEnabled(.kernel)
        leafMetricEnabled = Self.frameTypes.map { settings.isEnabled(.count(for: $0)) }
        countsEnabled = enabled.enumerated().contains { Self.metrics[$0.offset].isCount && $0.element }
        frameTypeEnabled = settings.isEnabled(.frameType)
        classificationEnabled = settings.isEnabled(.classification)
        customEnabled = settings.isEnabled(.customAggregation) && !settings.aggregations.isEmpty
        gaugesEnabled = frameTypeEnabled || classificationEnabled || customEnabled
        classificationCache = Array(repeating: [:], count: Self.frameTypes.count)

        var compiled: [(Regex<AnyRegexOutput>, String)] = []
        for (index, aggregation) in settings.aggregations.enumerated() {
            do {
                compiled.append((try aggregation.regex(), aggregation.label))
            } catch {
                throw ConfigurationError(path: "connectors.profilingmetrics.aggregations[\(index)].match",
                                         problem: "the regular expression `\(aggregation.match)` does not compile: \(error)",
                                         fix: "correct the expression")
            }
        }
        for (regex, label) in compiled {
            aggregations.append((regex, intern([Attribute("frame_type", label),
                                                Attribute("profile.type_unit", Self.typeUnit)])))
        }
        frameTypeAttributeSets = Self.frameTypes.map {
            intern([Attribute("frame_type", $0.rawValue), Attribute("profile.type_unit", Self.typeUnit)])
        }
    }

    // MARK: Adding samples

    /// Counts one sample.
    public func add(_ sample: SymbolizedSample) {
        let weight = sample.weight
        statistics.samples += 1
        statistics.weight += weight
        guard let resource = resourceID(for: sample.process) else {
            statistics.droppedSamples += 1
            statistics.droppedWeight += weight
            return
        }

        // The sums, decided by the leaf.
        var first: UInt64 = 0
        var second: UInt64 = 0
        var sums = 0
        if countsEnabled {
            if let leaf = sample.frames.first {
                if leaf.type == .kernel {
                    if kernelEnabled {
                        first = Self.series(resource: resource, metric: Self.kernelIndex,
                                            attributes: kernelAttributeSet(of: sample.frames))
                        sums = 1
                    }
                } else {
                    if userEnabled {
                        first = Self.series(resource: resource, metric: Self.userIndex, attributes: 0)
                        sums = 1
                    }
                    let ordinal = Self.ordinal(leaf.type)
                    if leafMetricEnabled[ordinal] {
                        var attributes: UInt32 = 0
                        if leaf.type == .native, let path = leaf.mappingPath {
                            attributes = shlibAttributeSet(path, address: leaf.address)
                        }
                        let key = Self.series(resource: resource, metric: Self.leafMetricIndex[ordinal],
                                              attributes: attributes)
                        if sums == 0 { first = key } else { second = key }
                        sums += 1
                    }
                }
            } else {
                statistics.emptyStackWeight += weight
                if userEnabled {
                    first = Self.series(resource: resource, metric: Self.userIndex, attributes: 0)
                    sums = 1
                }
            }
        }

        // The gauges, +1 per frame: the leading kernel frames' counted here (kernel stacks
        // vary far more than the user stacks under them), the rest's from a per-stack cache.
        var gauges: [(series: UInt64, count: Int64)] = []
        if gaugesEnabled {
            let kernelFrames = sample.frames.withUnsafeBufferPointer { frames in
                var count = 0
                while count < frames.count, frames[count].type == .kernel { count += 1 }
                return count
            }
            if kernelFrames < sample.frames.count {
                let entry = gaugeEntry(of: sample.frames, from: kernelFrames)
                gauges = entry.gauges
                statistics.unclassifiedFrames += entry.unclassifiedFrames
            }
            if kernelFrames > 0 { appendKernelGauges(of: sample.frames, count: kernelFrames, to: &gauges) }
        }
        let resourceBits = UInt64(resource) << 32

        // Spread over windows by timestamp.
        let timestamps = sample.timestamps
        if timestamps.isEmpty {
            let window = self.window(forUnix: lastUnixTime, weight: 1)
            apply(first, second, sums, weight: 1, gauges: gauges, resourceBits, to: window)
            return
        }
        let firstUnix = stream.unixNanoseconds(ofMonotonic: timestamps[0])
        let firstIndex = Int64(firstUnix / windowNanoseconds)
        var singleWindow = true
        var latest = firstUnix
        for time in timestamps.dropFirst() {
            let unix = stream.unixNanoseconds(ofMonotonic: time)
            if Int64(unix / windowNanoseconds) != firstIndex { singleWindow = false }
            if unix > latest { latest = unix }
        }
        if latest > lastUnixTime { lastUnixTime = latest }
        if singleWindow {
            let window = self.window(forUnix: firstUnix, weight: weight)
            if latest > window.lastSampleUnix { window.lastSampleUnix = latest }
            apply(first, second, sums, weight: weight, gauges: gauges, resourceBits, to: window)
            return
        }
        var perWindow: [Int64: (count: Int64, latest: UInt64)] = [:]
        var order: [Int64] = []
        for time in timestamps {
            let unix = stream.unixNanoseconds(ofMonotonic: time)
            let index = Int64(unix / windowNanoseconds)
            if perWindow[index] == nil { order.append(index) }
            perWindow[index, default: (0, 0)].count += 1
            perWindow[index]!.latest = max(perWindow[index]!.latest, unix)
        }
        for (position, index) in order.enumerated() {
            let entry = perWindow[index]!
            let window = self.window(forUnix: UInt64(index) * windowNanoseconds, weight: entry.count)
            if entry.latest > window.lastSampleUnix { window.lastSampleUnix = entry.latest }
            apply(first, second, sums, weight: entry.count, gauges: position == 0 ? gauges : [], resourceBits,
                  to: window)
        }
    }

    /// Counts samples in order.
    public func add<Samples: Sequence<SymbolizedSample>>(_ samples: Samples) {
        for sample in samples { add(sample) }
    }

    @inline(__always)
    private func apply(_ first: UInt64, _ second: UInt64, _ sums: Int, weight: Int64,
                       gauges: [(series: UInt64, count: Int64)], _ resourceBits: UInt64, to window: Window) {
        if sums > 0 { window.counts.add(first, weight) }
        if sums > 1 { window.counts.add(second, weight) }
        for gauge in gauges { window.counts.add(resourceBits | gauge.series, gauge.count) }
    }

    private func window(forUnix unix: UInt64, weight: Int64) -> Window {
        var index = Int64(unix / windowNanoseconds)
        if index < firstOpenWindow {
            statistics.lateWeight += weight
            index = firstOpenWindow
        }
        if let current, current.index == index { return current }
        if let existing = windows[index] {
            current = existing
            return existing
        }
        let window = Window(index: index)
        windows[index] = window
        current = window
        return window
    }

    /// The gauge contributions of a stack's first `count` frames, all kernel frames:
    /// `samples.frame_type` and custom aggregations (classification skips kernel frames).
    private func appendKernelGauges(of frames: [Frame], count: Int, to gauges: inout [(series: UInt64, count: Int64)]) {
        if frameTypeEnabled {
            gauges.append((Self.series(metric: Self.frameTypeIndex, attributes: frameTypeAttributeSets[Self.ordinal(.kernel)]),
                           Int64(count)))
        }
        guard customEnabled else { return }
        for position in 0..<count {
            guard let name = frames[position].names.functionName else { continue }
            for set in customSets(of: name) { gauges.append((Self.series(metric: Self.customIndex, attributes: set), 1)) }
        }
    }

    /// The gauge contributions of a stack's frames from `start` (its user part), from the
    /// per-stack cache when the same frames (same types and names) were seen before. The
    /// key is the frames' types and `FrameNames` identities, not their addresses: the
    /// symbolizer shares one instance per symbol, so that a stack run by many processes of
    /// a binary (each at its own addresses) is one entry, whatever kernel stack is above it.
    private func gaugeEntry(of frames: [Frame], from start: Int) -> GaugeCacheEntry {
        let userFrames = frames.count - start
        // Frames are read in place: iterating the array would copy (retain) each one.
        let hash = frames.withUnsafeBufferPointer { buffer in
            var hash: UInt64 = 0x84222325cbf29ce4
            for position in start..<buffer.count {
                let names = UInt64(UInt(bitPattern: Unmanaged.passUnretained(buffer[position].names).toOpaque()))
                hash = (hash ^ names ^ UInt64(Self.ordinal(buffer[position].type)) << 58) &* 0x0000_0100_0000_01b3
                hash ^= hash >> 29
            }
            return hash
        }
        let slot = Int(truncatingIfNeeded: hash ^ hash >> 32) & (Self.stackCacheSlots - 1)
        if let entry = gaugeCache[slot], entry.hash == hash, entry.frames.count - entry.start == userFrames,
           Self.sameFunctions(entry.frames, from: entry.start, frames, from: start, count: userFrames, all: true) {
            return entry
        }
        // A stack has few distinct series (frame types, classes): a linear search of
        // them costs less than hashing each frame's series into a dictionary.
        var gauges: [(series: UInt64, count: Int64)] = []
        var unclassified: Int64 = 0
        func count(_ series: UInt64) {
            for position in gauges.indices where gauges[position].series == series {
                gauges[position].count += 1
                return
            }
            gauges.append((series, 1))
        }
        frames.withUnsafeBufferPointer { whole in
            let frames = UnsafeBufferPointer(rebasing: whole[start...])
            if frameTypeEnabled {
                // Counted by type first (a stack has one to a few types), then one series per
                // type in the order the types first appear, as counting each frame's would.
                let frameTypeAttributeSets = frameTypeAttributeSets
                withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.frameTypes.count) { counts in
                    counts.initialize(repeating: 0)
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.frameTypes.count) { order in
                        var types = 0
                        for position in frames.indices {
                            let ordinal = Self.ordinal(frames[position].type)
                            if counts[ordinal] == 0 {
                                order[types] = ordinal
                                types += 1
                            }
                            counts[ordinal] += 1
                        }
                        for position in 0..<types {
                            let ordinal = order[position]
                            gauges.append((Self.series(metric: Self.frameTypeIndex, attributes: frameTypeAttributeSets[ordinal]),
                                           counts[ordinal]))
                        }
                    }
                }
            }
            if classificationEnabled {
                for position in frames.indices {
                    let type = frames[position].type
                    switch type {
                    case .go, .jvm, .native, .rust, .cpython: break
                    default: continue
                    }
                    let set = classificationSet(of: frames[position])
                    if set != Self.none {
                        count(Self.series(metric: Self.classificationIndex, attributes: set))
                    } else if type == .go || type == .jvm {
                        unclassified += 1
                    }
                }
            }
            if customEnabled {
                for position in frames.indices {
                    guard let name = frames[position].names.functionName else { continue }
                    for set in customSets(of: name) { count(Self.series(metric: Self.customIndex, attributes: set)) }
                }
            }
        }
        let entry = GaugeCacheEntry(hash: hash, frames: frames, start: start, gauges: gauges, unclassifiedFrames: unclassified)
        gaugeCache[slot] = entry
        return entry
    }

    /// Whether `count` frames of `cached` from `cachedStart` and of `frames` from `start`
    /// have the same function names (with `all`: the same types and all names): at once
    /// when they are the same frames of one array (a stack the symbolizer cached; `cached`,
    /// held by a cache entry, cannot have been freed and its storage reused), else frame by
    /// frame, by the names' identity before their text.
    private static func sameFunctions(_ cached: [Frame], from cachedStart: Int = 0, _ frames: [Frame], from start: Int = 0,
                                      count: Int, all: Bool) -> Bool {
        guard cached.count - cachedStart >= count, frames.count - start >= count else { return false }
        return cached.withUnsafeBufferPointer { whole in
            frames.withUnsafeBufferPointer { wholeNew in
                let old = UnsafeBufferPointer(rebasing: whole[cachedStart...])
                let new = UnsafeBufferPointer(rebasing: wholeNew[start...])
                if old.baseAddress == new.baseAddress { return true }
                for position in 0..<count {
                    if all, old[position].type != new[position].type { return false }
                    // Identities first, without retaining the names.
                    if ObjectIdentifier(old[position].names) == ObjectIdentifier(new[position].names) { continue }
                    let (a, b) = (old[position].names, new[position].names)
                    if all ? a != b : a.functionName != b.functionName { return false }
                }
                return true
            }
        }
    }

    /// The `samples.classification` attribute set of a frame (`none` when unclassified):
    /// from a direct-mapped cache by its names' identity (the symbolizer shares one
    /// `FrameNames` per symbol), else by its function name and source file.
    private func classificationSet(of frame: borrowing Frame) -> UInt32 {
        let names = frame.names
        guard let name = names.functionName else { return Self.none }
        let ordinal = UInt8(Self.ordinal(frame.type))
        let bits = UInt(bitPattern: Unmanaged.passUnretained(names).toOpaque())
        let slot = Int(truncatingIfNeeded: (bits >> 4 ^ bits >> 17 ^ UInt(ordinal) &* 0x9E37) & UInt(Self.classificationSlotCount - 1))
        let cached = classificationSlots[slot]
        if let held = cached.names, held === names, cached.ordinal == ordinal { return cached.set }
        let set = classificationSet(of: name, type: frame.type, sourceFile: frame.type.isMachineCode ? nil : names.sourceFile)
        // The slot holds the names: their address cannot be reused while it is cached.
        classificationSlots[slot] = (names, ordinal, set)
        return set
    }

    private func classificationSet(of name: String, type: FrameType, sourceFile: String?) -> UInt32 {
        let ordinal = Self.ordinal(type)
        // A Python frame's class depends on its file too.
        let key = sourceFile.map { $0 + "\u{0}" + name } ?? name
        if let cached = classificationCache[ordinal][key] { return cached }
        let set: UInt32
        if let classification = FrameClassification.classify(functionName: name, type: type, sourceFile: sourceFile) {
            set = intern([Attribute("classification", classification), Attribute("frame_type", type.rawValue),
                          Attribute("profile.type_unit", Self.typeUnit)])
        } else {
            set = Self.none
        }
        if classificationCache[ordinal].count >= Self.cacheLimit { classificationCache[ordinal].removeAll() }
        classificationCache[ordinal][key] = set
        return set
    }

    private func customSets(of name: String) -> [UInt32] {
        if let cached = customCache[name] { return cached }
        let sets = aggregations.compactMap { name.contains($0.regex) ? $0.attributeSet : nil }
        if customCache.count >= Self.cacheLimit { customCache.removeAll() }
        customCache[name] = sets
        return sets
    }

    // MARK: Attribute sets

    private func intern(_ attributes: [Attribute]) -> UInt32 {
        let sorted = attributes.sorted { $0.key < $1.key }
        if let id = attributeSetIDs[sorted] { return id }
        let id = UInt32(attributeSets.count)
        // Attribute sets come from names (libraries, packages, labels, system
        // calls): far fewer than the 2^27 a packed series can address.
        precondition(id < Self.attributeSetLimit, "more than 2^27 distinct attribute sets")
        attributeSets.append(sorted)
        attributeSetIDs[sorted] = id
        return id
    }

    /// The `shlib_name` attribute set of a native leaf, cached by its address
    /// (verified by the mapping path) and by the mapping path.
    private func shlibAttributeSet(_ path: String, address: UInt64) -> UInt32 {
        if let cached = shlibByAddress[address], cached.path == path { return cached.attributeSet }
        let set: UInt32
        if let cached = shlibCache[path] {
            set = cached
        } else {
            set = SharedLibraryName.of(path: path).map { intern([Attribute("shlib_name", String($0))]) } ?? 0
            if shlibCache.count >= Self.cacheLimit { shlibCache.removeAll() }
            shlibCache[path] = set
        }
        if shlibByAddress.count >= Self.cacheLimit { shlibByAddress.removeAll() }
        shlibByAddress[address] = (path, set)
        return set
    }

    /// The kernel attributes of a stack whose leaf is a kernel frame, cached by
    /// the addresses of its consecutive kernel frames and verified by their names.
    private func kernelAttributeSet(of frames: [Frame]) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var count = 0
        for frame in frames {
            guard frame.type == .kernel else { break }
            hash = (hash ^ frame.address) &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
            count += 1
        }
        if let entry = kernelStackCache[hash], entry.count == count,
           Self.sameFunctions(entry.frames, frames, count: count, all: false) {
            return entry.attributeSet
        }
        let names = frames.prefix(count).map(\.functionName)
        let classification = KernelClassifier.classify(functionNames: names)
        let set = intern(classification.attributes)
        kernelClassifications[set] = classification
        if kernelStackCache.count >= Self.cacheLimit { kernelStackCache.removeAll() }
        kernelStackCache[hash] = KernelCacheEntry(frames: frames, count: count, attributeSet: set)
        return set
    }

    // MARK: Resources

    /// The resource of a process; nil for a new process when `maxProcessesPerWindow`
    /// are held already (until the windows that use them are emitted).
    private func resourceID(for process: ProcessIdentity) -> UInt32? {
        if let cached = resourceByPID[process.pid], cached.process == process { return cached.id }
        let id: UInt32
        if let existing = resourceIDs[process] {
            id = existing
        } else {
            guard resources.count < settings.maxProcessesPerWindow else { return nil }
            id = nextResourceID
            // Ids stay below UInt32.max, the empty-slot marker of the counter tables.
            nextResourceID = nextResourceID == UInt32.max - 1 ? 0 : nextResourceID + 1
            var attributes = [Attribute("host.name", stream.hostName),
                              Attribute("process.pid", Int64(process.pid)),
                              Attribute("process.executable.name", process.executableName)]
            if let path = process.executablePath { attributes.append(Attribute("process.executable.path", path)) }
            if let container = process.containerID { attributes.append(Attribute("container.id", container)) }
            if let pod = process.podUID { attributes.append(Attribute("k8s.pod.uid", pod)) }
            resources[id] = attributes.sorted { $0.key < $1.key }
            resourceIDs[process] = id
        }
        resourceByPID[process.pid] = (process, id)
        return id
    }

    // MARK: Emitting

    /// Emits every window that ends at or before `streamTime` (monotonic
    /// nanoseconds of the stream). Later samples for those windows count in the
    /// oldest open window.
    public func flush(upTo streamTime: UInt64) -> MetricsBatch {
        let unix = stream.unixNanoseconds(ofMonotonic: streamTime)
        let boundary = Int64(unix / windowNanoseconds)  // windows below it have ended
        let ready = windows.keys.filter { $0 < boundary }.sorted()
        firstOpenWindow = max(firstOpenWindow, boundary)
        return emit(ready, endingAt: nil)
    }

    /// Emits every remaining window. With `streamTime` (the stream's last
    /// monotonic time), the last windows end there instead of at their nominal
    /// end (never before their last sample), so that a later stream's points
    /// for the same window do not carry the same end time.
    public func finish(at streamTime: UInt64? = nil) -> MetricsBatch {
        let ready = windows.keys.sorted()
        if let last = ready.last { firstOpenWindow = max(firstOpenWindow, last + 1) }
        return emit(ready, endingAt: streamTime.map { stream.unixNanoseconds(ofMonotonic: $0) })
    }

    private func emit(_ indices: [Int64], endingAt cut: UInt64?) -> MetricsBatch {
        guard !indices.isEmpty else { return MetricsBatch(resourceMetrics: []) }
        // resource -> metric index -> points
        var perResource: [UInt32: [UInt8: [NumberDataPoint]]] = [:]
        for index in indices {
            guard let window = windows.removeValue(forKey: index) else { continue }
            if current === window { current = nil }
            let start = UInt64(index) * windowNanoseconds
            var end = start + windowNanoseconds
            if let cut, cut < end { end = max(cut, window.lastSampleUnix + 1, start + 1) }
            for (key, value) in window.counts.entries where value != 0 {
                let resource = UInt32(truncatingIfNeeded: key >> 32)
                let metric = UInt8(truncatingIfNeeded: (key >> 27) & 0x1F)
                let attributes = Int(key & UInt64(Self.attributeSetLimit - 1))
                let point = NumberDataPoint(attributes: attributeSets[attributes], startTimeUnixNano: start,
                                            timeUnixNano: end, value: value)
                if metric == Self.kernelIndex, let classification = kernelClassifications[UInt32(attributes)] {
                    emittedKernelSamples[classification, default: 0] += value
                }
                perResource[resource, default: [:]][metric, default: []].append(point)
            }
        }

        var resourceMetrics: [(attributes: [Attribute], pid: Int64, metrics: ResourceMetrics)] = []
        for (resource, byMetric) in perResource {
            guard let attributes = resources[resource] else { continue }
            var metrics: [Metric] = []
            for metricIndex in byMetric.keys.sorted() {
                let metric = Self.metrics[Int(metricIndex)]
                let points = byMetric[metricIndex]!.sorted(by: Self.pointOrder)
                let data: MetricData = metric.isCount
                    ? .sum(points: points, temporality: .delta, isMonotonic: true)
                    : .gauge(points: points)
                metrics.append(Metric(name: metric.rawValue, description: Self.description(of: metric), unit: "1",
                                      data: data))
            }
            var pid: Int64 = -1
            if case .int(let value)? = attributes.first(where: { $0.key == "process.pid" })?.value { pid = value }
            resourceMetrics.append((attributes, pid, ResourceMetrics(
                resource: attributes,
                scopeMetrics: [ScopeMetrics(scopeName: Self.scopeName, scopeVersion: scopeVersion, metrics: metrics)])))
        }
        // The batch holds its attributes now: emitted processes leave unless an open window uses them.
        evictUnusedResources()
        resourceMetrics.sort { lhs, rhs in
            lhs.pid != rhs.pid ? lhs.pid < rhs.pid : Self.attributesOrder(lhs.attributes, rhs.attributes)
        }
        return MetricsBatch(resourceMetrics: resourceMetrics.map(\.metrics))
    }

    /// Forgets processes that no open window refers to, so that memory follows
    /// the live processes rather than every process ever seen.
    private func evictUnusedResources() {
        var inUse: Set<UInt32> = []
        for window in windows.values {
            for (key, _) in window.counts.entries { inUse.insert(UInt32(truncatingIfNeeded: key >> 32)) }
        }
        guard resources.count > inUse.count else { return }
        let stale = resources.keys.filter { !inUse.contains($0) }
        for id in stale { resources[id] = nil }
        resourceIDs = resourceIDs.filter { inUse.contains($0.value) }
        resourceByPID = resourceByPID.filter { inUse.contains($0.value.id) }
        // Ids are never reused, so a process seen again gets a fresh id with the same attributes.
    }

    /// The `samples.kernel.count` values emitted (by `flush` and `finish`) since the last
    /// call, summed by their typed classification: what the exported points say, without
    /// reading their attributes back.
    public func takeEmittedKernelSamples() -> [KernelStackClassification: Int64] {
        defer { emittedKernelSamples = [:] }
        return emittedKernelSamples
    }

    /// Processes (resources) held for the open windows, against `maxProcessesPerWindow`.
    public var heldProcesses: Int { resources.count }

    private static func pointOrder(_ lhs: NumberDataPoint, _ rhs: NumberDataPoint) -> Bool {
        if lhs.startTimeUnixNano != rhs.startTimeUnixNano { return lhs.startTimeUnixNano < rhs.startTimeUnixNano }
        return attributesOrder(lhs.attributes, rhs.attributes)
    }

    private static func attributesOrder(_ lhs: [Attribute], _ rhs: [Attribute]) -> Bool {
        for (a, b) in zip(lhs, rhs) {
            if a.key != b.key { return a.key < b.key }
            let (x, y) = (text(of: a.value), text(of: b.value))
            if x != y { return x < y }
        }
        return lhs.count < rhs.count
    }

    private static func text(of value: AttributeValue) -> String {
        switch value {
        case .string(let text): return text
        case .int(let number): return String(number)
        }
    }

    private static func description(of metric: ProfilingMetric) -> String {
        switch metric {
        case .user: return "Samples whose leaf frame runs user-space code"
        case .kernel: return "Samples whose leaf frame runs kernel code"
        case .frameType: return "Frames of all sampled stacks, by frame type"
        case .classification: return "Frames of all sampled stacks, by package, class or namespace"
        case .customAggregation: return "Frames of all sampled stacks whose function matches a configured expression"
        default:
            let runtime = metric.rawValue.dropFirst("samples.".count).dropLast(".count".count)
            return "Samples whose leaf frame runs \(runtime) code"
        }
    }
}

extension ProfilingMetricsConnector {
    /// The connector a configuration's pipelines use, with its window chosen
    /// by `CollectorConfiguration.metricsWindow`; `nil` when no pipeline uses
    /// `profilingmetrics`.
    public convenience init?(configuration: CollectorConfiguration, stream: MetricsStreamContext,
                             scopeVersion: String = "") throws {
        guard let settings = configuration.profilingMetrics else { return nil }
        try self.init(settings: settings, stream: stream, batchInterval: configuration.metricsWindow,
                      scopeVersion: scopeVersion)
    }
}
