import WireFormat

/// The processes the sampler has described to the stream, with their executable
/// mappings. An entry lives from first sight (or exec) to exit, so the table stays
/// as large as the set of live processes that ran on a CPU, whatever the churn.
public struct ProcessTable: Sendable {
    public struct Entry: Sendable {
        public var info: ProcessInfo
        /// Sorted by start address, non-overlapping (as /proc/PID/maps lists them).
        public var mappings: [Mapping]
        /// Monotonic nanoseconds of the last read of /proc/PID/maps.
        var mappingsReadTime: UInt64
        /// When the process exec'd its image, if the sampler saw the exec.
        var execTime: UInt64?

        /// Whether `address` falls in a known executable mapping.
        public func covers(_ address: UInt64) -> Bool {
            var low = 0, high = mappings.count
            while low < high {
                let middle = (low + high) / 2
                if mappings[middle].end <= address {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low < mappings.count && mappings[low].start <= address
        }
    }

    public private(set) var entries: [Int32: Entry] = [:]
    let procfs: ProcFileSystem
    /// Minimum time between two re-reads of one process's mappings.
    let mappingsRefreshInterval: UInt64
    /// The least time between two reads of a process exec'd just before.
    static let youngestRefreshInterval: UInt64 = 10_000_000

    public init(procfs: ProcFileSystem = ProcFileSystem(), mappingsRefreshInterval: UInt64 = 1_000_000_000) {
        self.procfs = procfs
        self.mappingsRefreshInterval = mappingsRefreshInterval
    }

    public var count: Int { entries.count }

    /// By index: `entries[pid] != nil` would copy the entry (its strings, arrays) per sample.
    public func contains(_ pid: Int32) -> Bool { entries.index(forKey: pid) != nil }
    /// Whether `address` (true if nil) is in `pid`'s executable mappings; nil: pid unknown.
    /// Mutating only to reach the entry in place, for the same reason.
    public mutating func covers(_ pid: Int32, _ address: UInt64?) -> Bool? {
        if let address { entries[pid]?.covers(address) } else { contains(pid) ? true : nil }
    }

    public subscript(_ pid: Int32) -> Entry? { entries[pid] }

    /// Reads `pid` from /proc and records it. When the process is already gone (it
    /// exited before the drain), it is still recorded from what the event knew (`comm`),
    /// so its samples and its exit stay attributed; `readFailed` reports that case.
    /// `execTime`: when the process exec'd the image it runs, nil if the exec was not seen.
    public mutating func learn(_ pid: Int32, comm: String, execTime: UInt64?, now: UInt64)
        -> (process: ProcessInfo, mappings: Mappings, readFailed: Bool)
    {
        let isExec = execTime != nil
        var readFailed = false
        var info: ProcessInfo
        do {
            info = try procfs.process(pid, isExec: isExec)
        } catch {
            readFailed = true
            info = ProcessInfo(pid: pid, parentPID: 0, startTime: 0, comm: comm, executablePath: "",
                               cgroupPath: "", isExec: isExec)
        }
        let mappings = readFailed ? [] : ((try? procfs.executableMappings(pid)) ?? [])
        // A process already gone is not re-read sooner: its maps would fail to open again.
        entries[pid] = Entry(info: info, mappings: mappings, mappingsReadTime: now, execTime: readFailed ? nil : execTime)
        return (info, Mappings(pid: pid, mappings: mappings), readFailed)
    }

    /// Re-reads the mappings of `pid` unless they were read less than its refresh
    /// interval ago; returns the new set when it changed.
    public mutating func refreshMappings(_ pid: Int32, now: UInt64) -> Mappings? {
        guard var entry = entries[pid], now &- entry.mappingsReadTime >= refreshInterval(of: entry) else { return nil }
        entry.mappingsReadTime = now
        defer { entries[pid] = entry }
        // None at all: the process is exiting (its address space gone), not remapped.
        guard let mappings = try? procfs.executableMappings(pid), !mappings.isEmpty, mappings != entry.mappings else { return nil }
        entry.mappings = mappings
        return Mappings(pid: pid, mappings: mappings)
    }

    /// The least time from `entry`'s last read of its mappings to the next. A process read
    /// in its first moments is still mapping: ld.so its libraries, PHP's opcache its JIT
    /// buffer, a runtime its plugins. Its first read can miss them, and its code there is
    /// then walked without tables for a whole `mappingsRefreshInterval`. So it is re-read
    /// after as long as it had run at the last read: 10 ms at least, and at most
    /// `mappingsRefreshInterval`, which an older process or one not seen to exec gets.
    func refreshInterval(of entry: Entry) -> UInt64 {
        guard let exec = entry.execTime, entry.mappingsReadTime >= exec else { return mappingsRefreshInterval }
        return min(mappingsRefreshInterval, max(Self.youngestRefreshInterval, entry.mappingsReadTime - exec))
    }

    /// Forgets `pid`; returns whether it was known.
    @discardableResult
    public mutating func remove(_ pid: Int32) -> Bool {
        entries.removeValue(forKey: pid) != nil
    }

    /// The records that describe every live process, for the start of a stream.
    public func snapshot() -> [Record] {
        var records: [Record] = []
        records.reserveCapacity(entries.count * 2)
        for pid in entries.keys.sorted() {
            let entry = entries[pid]!
            var info = entry.info
            info.isExec = false
            records.append(.process(info))
            records.append(.mappings(Mappings(pid: pid, mappings: entry.mappings)))
        }
        return records
    }
}
