import Profiles

/// Symbolized samples counted by process, thread and full stack: the in-memory
/// profile every file output (folded stacks, pprof, flame graph, text report)
/// is written from.
///
/// Memory stays proportional to what is distinct, not to the number of
/// samples: frames, processes and stacks are interned once, and samples with
/// the same process, thread and stack only add to a count. The number of
/// distinct (process, thread, stack) cells is bounded by
/// `maximumDistinctStacks` (`receivers.profiling.max_profile_stacks`); a sample
/// that would need a new cell beyond it is counted in `droppedSamples`, never
/// silently lost.
public struct ProfileAggregate: Sendable {
    /// The process a sample is attributed to in the outputs.
    public struct Process: Hashable, Sendable {
        public var pid: Int32
        /// The kernel's short command name.
        public var comm: String

        public init(pid: Int32, comm: String) {
            self.pid = pid
            self.comm = comm
        }
    }

    /// One distinct (process, thread, stack) and the samples it stands for.
    public struct Entry: Sendable {
        public var process: Process
        public var threadID: Int32
        /// The thread's own name when sampled; empty when the stream does not say.
        public var threadName: String
        /// The frames, leaf first, as in `SymbolizedSample.frames`.
        public var frames: [Frame]
        public var userStackTruncated: Bool
        public var count: Int64
        /// The samples added into `count` (see `Cell.events`).
        public var events: Int64
    }

    /// A leaf function (where the CPU was) and its share of all counted samples.
    public struct LeafFunction: Hashable, Sendable {
        /// `Frame.functionLabel` of the leaf frame: an interpreted function's lines count together.
        public var name: String
        public var type: FrameType
        public var count: Int64
        /// `count / totalSamples`, in 0...1.
        public var share: Double
    }

    /// The storage key of a cell; ids index the interning tables.
    struct CellKey: Hashable, Sendable {
        var process: UInt32
        var threadID: Int32
        var threadName: UInt32
        var stack: UInt32
        var userStackTruncated: Bool
    }

    struct Cell: Sendable {
        var key: CellKey
        var count: Int64
        /// The samples added into `count`: equal to it when each weighs 1, the number of
        /// waits when an off-CPU profile weighs each by the nanoseconds waited.
        var events: Int64
    }

    /// The most distinct (process, thread, stack) cells kept.
    public private(set) var maximumDistinctStacks: Int

    /// The default of `maximumDistinctStacks`, sized in docs/benchmarks.md ("Chaos run"):
    /// a cell of a flood of distinct pids costs 170–320 bytes with its process, so 2^18
    /// cells take 45–80 MiB, and a flood that fills them peaked at 224 MiB with the
    /// metrics' bounds (under the 256 MiB a hostile stream may take); cells of one host's
    /// processes share their processes and stacks, and number tens of thousands.
    public static let defaultMaximumDistinctStacks = 1 << 18

    private(set) var frames: [Frame] = []
    private var frameIDs: [FrameKey: UInt32] = [:]
    /// The frame last interned for an address in a process: stacks repeat, so
    /// this integer-keyed lookup (checked against the frame, as a pid can be
    /// reused or exec another program) answers most `intern` calls. A cache:
    /// emptied at `recentFrameIDsLimit`, so that distinct pids cannot grow it.
    private var recentFrameIDs: [AddressKey: UInt32] = [:]
    private static let recentFrameIDsLimit = 1 << 16
    private(set) var processes: [Process] = []
    private var processIDs: [Process: UInt32] = [:]
    /// Thread names, interned (at most 15 bytes each, so stored inline).
    private(set) var threadNames: [String] = []
    private var threadNameIDs: [String: UInt32] = [:]
    /// Interned stacks of frame ids, leaf first.
    private(set) var stacks: [[UInt32]] = []
    private var stackIDs: [[UInt32]: UInt32] = [:]
    /// Cells in first-seen order; outputs sort what they print.
    private(set) var cells: [Cell] = []
    private var cellIndex: [CellKey: Int] = [:]
    /// Samples per leaf frame id.
    private var leafCounts: [UInt32: Int64] = [:]
    /// Interned stacks by the identity (storage address) of a sample's frames array:
    /// the symbolizer hands out one immutable array for every sample of a cached
    /// stack, so a hit skips interning its frames one by one. Each entry holds its
    /// array, so the address cannot be reused by another array while it is here;
    /// ids never change once given, so a hit gives what interning would.
    private var stacksByStorage: [UInt: (frames: [Frame], stack: UInt32, leaf: UInt32?)] = [:]
    private static let stacksByStorageLimit = 1 << 14

    /// Samples counted (the sum of the weights of the samples added and kept).
    public private(set) var totalSamples: Int64 = 0
    /// Samples not counted because `maximumDistinctStacks` was reached.
    public private(set) var droppedSamples: Int64 = 0
    /// Counted samples that had no frame at all.
    public private(set) var samplesWithoutFrames: Int64 = 0
    /// The earliest and latest sample time seen (kernel monotonic nanoseconds).
    public private(set) var firstTimestamp: UInt64?
    public private(set) var lastTimestamp: UInt64?

    public init(maximumDistinctStacks: Int = defaultMaximumDistinctStacks) {
        precondition(maximumDistinctStacks > 0, "maximumDistinctStacks must be positive")
        self.maximumDistinctStacks = maximumDistinctStacks
    }

    /// The samples counted, each once whatever its weight: an off-CPU profile's waits.
    public var totalEvents: Int64 { cells.saturatingSum(\.events) }

    /// The number of distinct (process, thread, stack) cells.
    public var distinctStackCount: Int { cells.count }

    /// Counts `sample` with its weight.
    public mutating func add(_ sample: SymbolizedSample) {
        add(sample, weight: sample.weight)
    }

    /// Counts `sample` with `weight` (an off-CPU profile weighs samples by nanoseconds).
    public mutating func add(_ sample: SymbolizedSample, weight: Int64) {
        for time in sample.timestamps {
            firstTimestamp = min(firstTimestamp ?? time, time)
            lastTimestamp = max(lastTimestamp ?? time, time)
        }
        add(process: Process(pid: sample.process.pid, comm: sample.process.comm),
            threadID: sample.threadID, threadName: sample.threadName, frames: sample.frames,
            userStackTruncated: sample.userStackTruncated, count: weight, events: 1, byStorage: true)
    }

    public mutating func add<Samples: Sequence>(contentsOf samples: Samples)
    where Samples.Element == SymbolizedSample {
        for sample in samples { add(sample) }
    }

    /// Adds every count of `other` (its dropped samples stay dropped; cells past
    /// `maximumDistinctStacks` are dropped and counted).
    ///
    /// An empty profile takes `other` whole, sharing its storage rather than copying it
    /// (the caller lets go of `other`); otherwise cells are added one by one through
    /// tables from `other`'s ids to this profile's, so no cell's frames are built.
    public mutating func merge(_ other: ProfileAggregate) {
        if isEmpty && other.cells.count <= maximumDistinctStacks {
            let bound = maximumDistinctStacks
            self = other
            maximumDistinctStacks = bound
            // Caches of the stream `other` served; they would only hold its memory here.
            stacksByStorage = [:]
            recentFrameIDs = [:]
            return
        }
        var ids = IDTranslation(other)
        for cell in other.cells {
            let full = cells.count >= maximumDistinctStacks
            guard let process = translate(process: cell.key.process, of: other, &ids, interning: !full),
                  let stack = translate(stack: cell.key.stack, of: other, &ids, interning: !full)
            else {
                droppedSamples.saturatingAdd(cell.count)
                continue
            }
            let name = other.threadNames[Int(cell.key.threadName)]
            guard let threadName = full ? threadNameIDs[name] : intern(threadName: name) else {
                droppedSamples.saturatingAdd(cell.count)
                continue
            }
            let key = CellKey(process: process, threadID: cell.key.threadID, threadName: threadName, stack: stack,
                              userStackTruncated: cell.key.userStackTruncated)
            if let index = cellIndex[key] {
                cells[index].count.saturatingAdd(cell.count)
                cells[index].events.saturatingAdd(cell.events)
            } else if full {
                droppedSamples.saturatingAdd(cell.count)
                continue
            } else {
                cellIndex[key] = cells.count
                cells.append(Cell(key: key, count: cell.count, events: cell.events))
            }
            record(leaf: stacks[Int(stack)].first, count: cell.count)
        }
        droppedSamples.saturatingAdd(other.droppedSamples)
        if let first = other.firstTimestamp { firstTimestamp = min(firstTimestamp ?? first, first) }
        if let last = other.lastTimestamp { lastTimestamp = max(lastTimestamp ?? last, last) }
    }

    /// Nothing added yet, nothing dropped.
    private var isEmpty: Bool { cells.isEmpty && droppedSamples == 0 && firstTimestamp == nil }

    /// Another profile's process, frame and stack ids in this one, filled as `merge` meets
    /// them; `unknown` until then (and while this profile, full, has no such item).
    private struct IDTranslation {
        static let unknown = UInt32.max
        var processes: [UInt32]
        var frames: [UInt32]
        var stacks: [UInt32]

        init(_ other: ProfileAggregate) {
            processes = Array(repeating: Self.unknown, count: other.processes.count)
            frames = Array(repeating: Self.unknown, count: other.frames.count)
            stacks = Array(repeating: Self.unknown, count: other.stacks.count)
        }
    }

    /// This profile's id of `other`'s process `id`; nil when it has none and `interning` is false.
    private mutating func translate(process id: UInt32, of other: ProfileAggregate, _ ids: inout IDTranslation,
                                    interning: Bool) -> UInt32? {
        if ids.processes[Int(id)] != IDTranslation.unknown { return ids.processes[Int(id)] }
        let process = other.processes[Int(id)]
        guard let own = interning ? intern(process) : processIDs[process] else { return nil }
        ids.processes[Int(id)] = own
        return own
    }

    /// This profile's id of `other`'s stack `id`; nil when it has none and `interning` is false.
    private mutating func translate(stack id: UInt32, of other: ProfileAggregate, _ ids: inout IDTranslation,
                                    interning: Bool) -> UInt32? {
        if ids.stacks[Int(id)] != IDTranslation.unknown { return ids.stacks[Int(id)] }
        var frameList: [UInt32] = []
        frameList.reserveCapacity(other.stacks[Int(id)].count)
        for frameID in other.stacks[Int(id)] {
            var own = ids.frames[Int(frameID)]
            if own == IDTranslation.unknown {
                let frame = other.frames[Int(frameID)]
                guard let found = interning ? intern(frame) : frameIDs[FrameKey(frame)] else { return nil }
                own = found
                ids.frames[Int(frameID)] = own
            }
            frameList.append(own)
        }
        guard let own = interning ? intern(stack: frameList) : stackIDs[frameList] else { return nil }
        ids.stacks[Int(id)] = own
        return own
    }

    private mutating func add(process: Process, threadID: Int32, threadName: String, frames stackFrames: [Frame],
                              userStackTruncated: Bool, count: Int64, events: Int64, byStorage: Bool = false) {
        if cells.count >= maximumDistinctStacks {
            // Full: only count into an existing cell; look up without interning anything new.
            guard let processID = processIDs[process],
                  let threadNameID = threadNameIDs[threadName],
                  let frameList = lookUpFrames(stackFrames),
                  let stackID = stackIDs[frameList],
                  let index = cellIndex[CellKey(process: processID, threadID: threadID, threadName: threadNameID,
                                                stack: stackID, userStackTruncated: userStackTruncated)]
            else {
                droppedSamples.saturatingAdd(count)
                return
            }
            cells[index].count.saturatingAdd(count)
            cells[index].events.saturatingAdd(events)
            record(leaf: frameList.first, count: count)
            return
        }
        let processID = intern(process)
        let identity = byStorage ? stackFrames.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } : 0
        let stackID: UInt32
        let leaf: UInt32?
        if identity != 0, let known = stacksByStorage[identity], known.frames.count == stackFrames.count {
            stackID = known.stack
            leaf = known.leaf
        } else {
            let frameList = stackFrames.map { intern($0, pid: process.pid) }
            stackID = intern(stack: frameList)
            leaf = frameList.first
            if identity != 0 {
                if stacksByStorage.count >= Self.stacksByStorageLimit { stacksByStorage.removeAll() }
                stacksByStorage[identity] = (stackFrames, stackID, leaf)
            }
        }
        let key = CellKey(process: processID, threadID: threadID, threadName: intern(threadName: threadName),
                          stack: stackID, userStackTruncated: userStackTruncated)
        if let index = cellIndex[key] {
            cells[index].count.saturatingAdd(count)
            cells[index].events.saturatingAdd(events)
        } else {
            cellIndex[key] = cells.count
            cells.append(Cell(key: key, count: count, events: events))
        }
        record(leaf: leaf, count: count)
    }

    private mutating func record(leaf: UInt32?, count: Int64) {
        totalSamples.saturatingAdd(count)
        if let leaf {
            leafCounts[leaf, default: 0].saturatingAdd(count)
        } else {
            samplesWithoutFrames.saturatingAdd(count)
        }
    }

    private func lookUpFrames(_ stackFrames: [Frame]) -> [UInt32]? {
        var ids: [UInt32] = []
        ids.reserveCapacity(stackFrames.count)
        for frame in stackFrames {
            guard let id = frameIDs[FrameKey(frame)] else { return nil }
            ids.append(id)
        }
        return ids
    }

    private mutating func intern(_ frame: Frame, pid: Int32) -> UInt32 {
        let addressKey = AddressKey(pid: pid, address: frame.address)
        if let id = recentFrameIDs[addressKey], frames[Int(id)] == frame { return id }
        let id = intern(frame)
        if recentFrameIDs.count >= Self.recentFrameIDsLimit { recentFrameIDs.removeAll(keepingCapacity: true) }
        recentFrameIDs[addressKey] = id
        return id
    }

    private mutating func intern(_ frame: Frame) -> UInt32 {
        let key = FrameKey(frame)
        if let known = frameIDs[key] { return known }
        let id = UInt32(frames.count)
        frames.append(frame)
        frameIDs[key] = id
        return id
    }

    private mutating func intern(_ process: Process) -> UInt32 {
        if let id = processIDs[process] { return id }
        let id = UInt32(processes.count)
        processes.append(process)
        processIDs[process] = id
        return id
    }

    private mutating func intern(threadName: String) -> UInt32 {
        if let id = threadNameIDs[threadName] { return id }
        let id = UInt32(threadNames.count)
        threadNames.append(threadName)
        threadNameIDs[threadName] = id
        return id
    }

    private mutating func intern(stack: [UInt32]) -> UInt32 {
        if let id = stackIDs[stack] { return id }
        let id = UInt32(stacks.count)
        stacks.append(stack)
        stackIDs[stack] = id
        return id
    }

    // MARK: Reading

    /// Every distinct (process, thread, stack) with its count, in first-seen order.
    public var entries: [Entry] {
        cells.map { cell in
            Entry(process: processes[Int(cell.key.process)], threadID: cell.key.threadID,
                  threadName: threadNames[Int(cell.key.threadName)], frames: stacks[Int(cell.key.stack)].map { frames[Int($0)] },
                  userStackTruncated: cell.key.userStackTruncated, count: cell.count, events: cell.events)
        }
    }

    /// The leaf functions with the most samples, most first (ties by name).
    /// Frames with the same `functionLabel` and type (different addresses in one
    /// function, different lines of one Python function) count together.
    public func topLeafFunctions(limit: Int) -> [LeafFunction] {
        // By the whole source path: two modules' `run` stay two rows even when their
        // files have one base name.
        struct NameAndType: Hashable { var name: String; var sourceFile: String?; var type: FrameType }
        var counts: [NameAndType: Int64] = [:]
        for (frameID, count) in leafCounts {
            let frame = frames[Int(frameID)]
            counts[NameAndType(name: frame.functionLabel, sourceFile: frame.interpretedSourceFile, type: frame.type), default: 0].saturatingAdd(count)
        }
        let total = Double(max(totalSamples, 1))
        let sorted = counts.sorted { lhs, rhs in
            if lhs.value != rhs.value { return lhs.value > rhs.value }
            if lhs.key.name != rhs.key.name { return lhs.key.name < rhs.key.name }
            if lhs.key.type != rhs.key.type { return lhs.key.type.rawValue < rhs.key.type.rawValue }
            return (lhs.key.sourceFile ?? "") < (rhs.key.sourceFile ?? "")
        }
        return sorted.prefix(max(0, limit)).map {
            LeafFunction(name: $0.key.name, type: $0.key.type, count: $0.value, share: Double($0.value) / total)
        }
    }

    /// Counted samples by the type of their leaf frame; samples without frames
    /// are in `samplesWithoutFrames`.
    public var samplesByLeafFrameType: [FrameType: Int64] {
        var result: [FrameType: Int64] = [:]
        for (frameID, count) in leafCounts {
            result[frames[Int(frameID)].type, default: 0].saturatingAdd(count)
        }
        return result
    }
}

private struct AddressKey: Hashable {
    var pid: Int32
    var address: UInt64
}

/// A frame as a dictionary key that hashes only its numbers and the lengths
/// of its strings, as hashing whole names cost most of the time of `add`.
/// Equality still compares whole frames.
private struct FrameKey: Hashable {
    var frame: Frame

    init(_ frame: Frame) {
        self.frame = frame
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(frame.address)
        hasher.combine(frame.fileOffset)
        hasher.combine(frame.sourceLine)
        hasher.combine(frame.type)
        hasher.combine(frame.functionName?.utf8.count)
        hasher.combine(frame.mappingPath?.utf8.count)
    }

    static func == (lhs: FrameKey, rhs: FrameKey) -> Bool {
        lhs.frame == rhs.frame
    }
}
