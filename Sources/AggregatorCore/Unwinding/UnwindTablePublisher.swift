import Logging
import WireFormat

/// Sends the sampler of one connection the unwind tables of the executable
/// mappings it reports: each file's table once (from the shared cache), then,
/// for each mappings record, the process's complete set of covered mappings
/// with their biases (docs/wire-format.md, section 10).
public final class UnwindTablePublisher {
    public struct Counters: Hashable, Sendable {
        /// Tables sent on this connection.
        public var tablesSent = 0
        /// Unwind mappings records sent.
        public var mappingsRecordsSent = 0
        /// Mappings covered by a table, summed over the records sent.
        public var mappingsCovered = 0
        /// Mappings without a table (pseudo files, unreadable or uncompilable files, offsets outside PT_LOAD).
        public var mappingsUncovered = 0
        /// Tables the sampler evicted for room (sent again when a process needs them).
        public var tablesEvicted = 0
    }

    private let cache: UnwindTableCache
    private let channel: ControlChannel
    private let logger: Logger
    public private(set) var counters = Counters()
    /// Table ids of the files whose table the sampler has.
    private var sentTables: [FileIdentity: UInt32] = [:]
    /// The tables each process's last published set uses.
    private var publishedTables: [Int32: Set<UInt32>] = [:]
    private var nextTableID: UInt32 = 1
    private var loggedFailures: Set<FileIdentity> = []
    /// The last mappings record of every process, published once the process is sampled:
    /// the sampler's table budget goes to processes that run, not to every idle one.
    private var latest: [Int32: Mappings] = [:]
    private var sampled: Set<Int32> = []
    /// Largest table sent: the sampler's decoder refuses larger records (`ControlDecoderLimits`).
    public var maximumTableBytes = ControlDecoderLimits.default.maximumTableBytes
    /// Processes whose last set had mappings with a table still being compiled: sent
    /// again by `poll()` once the tables are ready.
    private var waiting: [Int32: Mappings] = [:]

    public init(cache: UnwindTableCache, channel: ControlChannel, logger: Logger) {
        self.cache = cache
        self.channel = channel
        self.logger = logger
    }

    /// Notes a mappings record (the complete executable set of a pid); published now
    /// if the process was sampled, else at its first sample.
    public func noteMappings(_ mappings: Mappings) {
        latest[mappings.pid] = mappings
        if sampled.contains(mappings.pid) { publish(mappings) }
    }

    /// Notes a sample of `pid`: the first one publishes the process's tables.
    public func noteSample(pid: Int32) {
        guard sampled.insert(pid).inserted, let mappings = latest[pid] else { return }
        publish(mappings)
    }

    /// Publishes the tables of a mappings record: at once with the tables that are
    /// compiled, again when the others are.
    public func publish(_ mappings: Mappings) {
        var entries: [UnwindMapping] = []
        var pending = false
        for mapping in mappings.mappings.sorted(by: { $0.start < $1.start }) {
            let result = entry(for: mapping, pid: mappings.pid)
            guard case .covered(let entry) = result else {
                if case .pending = result { pending = true } else { counters.mappingsUncovered += 1 }
                continue
            }
            // Disjoint, as the wire format requires (the kernel's maps are).
            if let last = entries.last, entry.start < last.end { continue }
            entries.append(entry)
        }
        if pending {
            waiting[mappings.pid] = mappings
        } else {
            waiting.removeValue(forKey: mappings.pid)
        }
        if channel.send(.unwindMappings(UnwindMappings(pid: mappings.pid, entries: entries))) {
            counters.mappingsRecordsSent += 1
            counters.mappingsCovered += entries.count
            publishedTables[mappings.pid] = Set(entries.map(\.tableID))
        }
    }

    /// The sampler evicted these tables for room: they are forgotten (sent again, under
    /// new ids, when needed), and the processes whose last set named one are published
    /// again, since the sampler may have refused that set.
    public func noteEvicted(_ tableIDs: [UInt32]) {
        let evicted = Set(tableIDs)
        counters.tablesEvicted += evicted.count
        sentTables = sentTables.filter { !evicted.contains($0.value) }
        let affected = publishedTables.filter { !$0.value.isDisjoint(with: evicted) }.keys.sorted()
        for pid in affected {
            if let mappings = latest[pid], sampled.contains(pid) { publish(mappings) }
        }
    }

    /// Sends the sets that waited for tables now compiled; call after each chunk of input.
    public func poll() {
        guard !waiting.isEmpty else { return }
        for (pid, mappings) in waiting.sorted(by: { $0.key < $1.key }) where isReady(mappings) {
            waiting.removeValue(forKey: pid)
            publish(mappings)
        }
        channel.flush()
    }

    private func isReady(_ mappings: Mappings) -> Bool {
        mappings.mappings.allSatisfy { mapping in
            guard let request = tableRequest(for: mapping, pid: mappings.pid) else { return true }
            return !cache.tableOrSchedule(for: request.identity, paths: request.paths).isPending
        }
    }

    /// Sends an empty set for a pid that exec'd or exited, so its old tables stop applying.
    public func forget(pid: Int32) {
        waiting.removeValue(forKey: pid)
        latest.removeValue(forKey: pid)
        publishedTables.removeValue(forKey: pid)
        guard sampled.remove(pid) != nil else { return }
        if channel.send(.unwindMappings(UnwindMappings(pid: pid, entries: []))) {
            counters.mappingsRecordsSent += 1
        }
    }

    private enum MappingResult {
        case covered(UnwindMapping)
        case pending
        case uncovered
    }

    /// The file behind a mapping and where to read it; nil for pseudo files and anonymous memory.
    private func tableRequest(for mapping: Mapping, pid: Int32) -> (identity: FileIdentity, paths: [String])? {
        guard mapping.path.hasPrefix("/"), mapping.inode != 0, mapping.end > mapping.start else { return nil }
        // The process's own view of its files first (containers), then the host's.
        return (FileIdentity(device: mapping.device, inode: mapping.inode),
                ["/proc/\(pid)/root\(mapping.path)", mapping.path])
    }

    private func entry(for mapping: Mapping, pid: Int32) -> MappingResult {
        guard let (identity, paths) = tableRequest(for: mapping, pid: pid) else { return .uncovered }
        let compiled: CompiledUnwindTable
        switch cache.tableOrSchedule(for: identity, paths: paths) {
        case .compiled(let table):
            compiled = table
        case .pending:
            return .pending
        case .failed(let reason):
            if loggedFailures.insert(identity).inserted {
                logger.debug("no unwind table for \(mapping.path): \(reason)")
            }
            return .uncovered
        }
        guard let bias = compiled.bias(mappingStart: mapping.start, fileOffset: mapping.fileOffset),
              compiled.serialized.count <= maximumTableBytes else { return .uncovered }
        let tableID: UInt32
        if let sent = sentTables[identity] {
            tableID = sent
        } else {
            tableID = nextTableID
            let record = UnwindTableRecord(tableID: tableID, device: identity.device, inode: identity.inode,
                                           table: compiled.serialized)
            // Not sent (queue full): no mapping may name it; tried again with the next record.
            guard channel.send(.unwindTable(record)) else { return .uncovered }
            nextTableID += 1
            sentTables[identity] = tableID
            counters.tablesSent += 1
            if let debugFile = compiled.separateDebugFile {
                logger.debug("unwind table of \(mapping.path) includes the .debug_frame of \(debugFile)")
            }
            for warning in compiled.debugFileWarnings {
                logger.debug("debug file not used for the unwind table of \(mapping.path): \(warning)")
            }
        }
        return .covered(UnwindMapping(start: mapping.start, end: mapping.end, tableID: tableID, bias: bias,
                                      device: identity.device, inode: identity.inode))
    }
}
