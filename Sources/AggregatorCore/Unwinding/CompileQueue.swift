/// The unwind-table compiles waiting for a worker, and which one a free worker takes: the
/// file the most samples are waiting for since it was queued (the hottest process's table
/// first, as a new host's start-up wants), then the smallest, then the oldest. A large
/// compile waits while another large one runs, however many samples wait for it, so that
/// one worker stays free for the rest: a busy process that maps several large files must
/// not hold back a new process's small executable (RuntimeUnwindLiveTests' Go program, 417
/// of 1,018 leaf samples with their caller when two demanded large files took both workers).
struct CompileQueue<Job> {
    struct Entry {
        var identity: FileIdentity
        var size: Int
        var sequence: UInt64
        var isLarge: Bool
        var job: Job
    }

    private var entries: [Entry] = []
    /// Samples that waited for each queued file (`noteDemand`).
    private var demand: [FileIdentity: Int] = [:]
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }

    mutating func append(_ job: Job, identity: FileIdentity, size: Int, isLarge: Bool) {
        entries.append(Entry(identity: identity, size: size, sequence: nextSequence, isLarge: isLarge, job: job))
        nextSequence += 1
        if demand[identity] == nil { demand[identity] = 0 }
    }

    /// A sample of a process waiting for `identity`'s table; a file not queued (compiling,
    /// compiled) is not counted.
    mutating func noteDemand(for identity: FileIdentity) {
        if let count = demand[identity] { demand[identity] = count + 1 }
    }

    /// The job a free worker takes, removed from the queue; nil when none may start now.
    mutating func takeNext(largeJobRunning: Bool) -> Entry? {
        var best: Int?
        for index in entries.indices where !entries[index].isLarge || !largeJobRunning {
            guard let current = best else {
                best = index
                continue
            }
            if Self.precedes(entries[index], demand[entries[index].identity] ?? 0,
                             entries[current], demand[entries[current].identity] ?? 0) {
                best = index
            }
        }
        guard let best else { return nil }
        return remove(at: best)
    }

    /// The oldest job, whatever its size (the caller's own thread, when no worker could start).
    mutating func takeFirst() -> Entry? {
        entries.isEmpty ? nil : remove(at: 0)
    }

    private mutating func remove(at index: Int) -> Entry {
        let entry = entries.remove(at: index)
        if !entries.contains(where: { $0.identity == entry.identity }) { demand.removeValue(forKey: entry.identity) }
        return entry
    }

    private static func precedes(_ a: Entry, _ aDemand: Int, _ b: Entry, _ bDemand: Int) -> Bool {
        if aDemand != bDemand { return aDemand > bDemand }
        if a.size != b.size { return a.size < b.size }
        return a.sequence < b.sequence
    }
}
