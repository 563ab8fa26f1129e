import CPythonSymbolization
import HotSpotSymbolization
import PHPSymbolization
import RubySymbolization
import V8Symbolization
import Logging
import Symbolization
import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

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
        /// Processes that stopped being sampled and gave their tables back (empty sets sent).
        public var processesRetired = 0
        /// Processes not published again after an eviction: already republished
        /// `maximumRepublishesAfterEviction` times (the budget is too small for them).
        public var republishesSkipped = 0
        /// File requests sent (files no path opened for: the sampler passes a descriptor).
        public var fileRequestsSent = 0
        /// Descriptors received and handed to the cache to compile.
        public var descriptorsReceived = 0
        /// Mappings records and first samples of processes past `maximumProcesses`: ignored.
        public var processesIgnored = 0
        /// Answers without a descriptor (the sampler's reason: unknown mapping, open failed, busy, ...).
        public var fileRequestsRefused = 0
        /// Descriptors or answers that matched nothing, or failed the fstat check (closed).
        public var descriptorsRejected = 0
        /// CPython process records sent (control record 19).
        public var cpythonProcessesSent = 0
        /// JVM process records sent (control record 21).
        public var hotspotProcessesSent = 0
        /// Perl process records sent (control record 25).
        public var perlProcessesSent = 0
        /// Ruby process records sent (control record 27).
        public var rubyProcessesSent = 0
        /// PHP process records sent (control record 29).
        public var phpProcessesSent = 0
        /// V8 process records sent (control record 23).
        public var v8ProcessesSent = 0
        /// BEAM process records sent (control record 31).
        public var beamProcessesSent = 0
    }

    private let cache: UnwindTableCache
    private let channel: ControlChannel
    private let logger: Logger
    public private(set) var counters = Counters()
    /// Table ids of the files whose table the sampler has.
    private var sentTables: [FileIdentity: UInt32] = [:]
    /// The tables each process's last published set uses.
    private var publishedTables: [Int32: Set<UInt32>] = [:]
    private var republishedAfterEviction: [Int32: Int] = [:]
    private var nextTableID: UInt32 = 1
    private var loggedFailures: Set<FileIdentity> = []
    /// Interpreter files already logged about.
    private var loggedInterpreters: Set<FileIdentity> = []
    /// Name each process's CPython interpreter to the sampler, which then walks its Python frames.
    public var walksCPython = true
    /// Name each process's JVM to the sampler, which then walks its Java frames (docs/jvm.md).
    public var walksHotSpot = true
    /// Name each process's Perl interpreter to the sampler, which then walks its Perl frames.
    public var walksPerl = true
    /// Name each process's PHP engine to the sampler, which then walks its PHP frames.
    public var walksPHP = true
    /// Name each process's BEAM VM to the sampler, which then walks its Erlang frames (docs/beam.md).
    public var walksBEAM = true
    private var walksInterpreters: Bool { walksCPython || walksPerl || walksPHP || walksBEAM || walksHotSpot || walksRuby }
    private lazy var interpreterFiles = InterpreterFiles(maximumFileSize: maximumFileSize)
    /// Name each process's Ruby VM to the sampler, which then walks its Ruby frames.
    public var walksRuby = true
    /// Name each Node process's V8 to the sampler, which then walks its JavaScript frames.
    public var walksV8 = true
    private lazy var v8Files = V8RuntimeFiles(maximumFileSize: maximumFileSize)
    /// The last mappings record of every process, published once the process is sampled:
    /// the sampler's table budget goes to processes that run, not to every idle one.
    private var latest: [Int32: Mappings] = [:]
    /// The time of each sampled process's last sample; a process is "sampled" while it has one.
    private var lastSampleTime: [Int32: UInt64] = [:]
    private var nextRetirementCheck: UInt64 = 0
    /// Processes that get no tables: the aggregator and the sampler themselves. Their
    /// Swift libraries' tables would take half the sampler's default budget, and Swift
    /// code keeps frame pointers.
    public var excludedPIDs: Set<Int32> = []
    /// Most processes with per-pid state (mappings, last sample time): the symbolizer's
    /// `max_processes`, so that a flood of pids costs no more here than there.
    public var maximumProcesses = Int.max
    /// How long a process may go unsampled before its tables are given back.
    public var idleRetirementNanoseconds: UInt64 = 30_000_000_000
    /// Largest table sent: the sampler's decoder refuses larger records (`ControlDecoderLimits`).
    public var maximumTableBytes = ControlDecoderLimits.default.maximumTableBytes
    /// Processes whose last set had mappings with a table still being compiled: sent
    /// again by `poll()` once the tables are ready.
    /// With the files those tables are being compiled from: each sample of the process moves
    /// their compiles up the cache's queue, the hottest process's first.
    private var waiting: [Int32: (mappings: Mappings, files: [FileIdentity])] = [:]
    /// File requests sent and not answered yet, by file.
    private var outstanding: [FileIdentity: FileRequest] = [:]
    /// File requests waiting for room among the outstanding ones.
    private var requestQueue: [FileRequest] = []
    /// Files the sampler would not or could not pass, with its reason: not asked again
    /// on this connection. A busy sampler is asked again, up to `maximumBusyRetries` times.
    private var refused: [FileIdentity: String] = [:]
    /// Processes the sampler did not know a mapping of (exited, or exec'd since): another
    /// process that maps the same file may still ask for it.
    private var unknownTo: [FileIdentity: Set<Int32>] = [:]
    private var busyRetries: [FileIdentity: Int] = [:]
    /// Most file requests in flight: the sampler bounds its descriptors in flight and
    /// answers the excess with "busy"; asking in small batches keeps that rare.
    public var maximumOutstandingRequests = 8
    public var maximumBusyRetries = 3
    /// Largest file accepted through a descriptor (as the cache's path limit).
    private var maximumFileSize: Int { cache.maximumFileSize }

    public init(cache: UnwindTableCache, channel: ControlChannel, logger: Logger) {
        self.cache = cache
        self.channel = channel
        self.logger = logger
    }

    /// Notes a mappings record (the complete executable set of a pid); published now
    /// if the process was sampled, else at its first sample.
    public func noteMappings(_ mappings: Mappings) {
        guard latest[mappings.pid] != nil || latest.count < maximumProcesses else {
            counters.processesIgnored += 1
            return
        }
        latest[mappings.pid] = mappings
        if lastSampleTime[mappings.pid] != nil { publish(mappings) }
    }

    /// Notes a sample of `pid`: the first one publishes the process's tables.
    /// `time` (the sample's, monotonic ns) retires processes that stopped running.
    /// Processes whose mappings, and processes whose last sample time, are kept.
    public var trackedProcesses: (mappings: Int, sampled: Int) { (latest.count, lastSampleTime.count) }

    public func noteSample(pid: Int32, time: UInt64 = 0) {
        guard !excludedPIDs.contains(pid) else { return }
        guard lastSampleTime[pid] != nil || lastSampleTime.count < maximumProcesses else {
            counters.processesIgnored += 1
            return
        }
        let isFirst = lastSampleTime.updateValue(time, forKey: pid) == nil
        if let files = waiting[pid]?.files { cache.noteDemand(for: files) }
        if time >= nextRetirementCheck {
            nextRetirementCheck = time &+ idleRetirementNanoseconds / 4
            retireIdleProcesses(now: time)
        }
        guard isFirst, let mappings = latest[pid] else { return }
        publish(mappings)
    }

    /// Processes not sampled for `idleRetirementNanoseconds` give their tables back: an
    /// empty set lets the sampler evict tables no running process needs when room is
    /// short, so that its budget goes to the processes that run. Their next sample
    /// publishes them again (their tables are sent again only if they were evicted).
    private func retireIdleProcesses(now: UInt64) {
        // Samples of different CPUs arrive slightly out of order: a last sample after `now` is recent.
        for (pid, last) in lastSampleTime where now > last && now - last >= idleRetirementNanoseconds {
            lastSampleTime.removeValue(forKey: pid)
            waiting.removeValue(forKey: pid)
            publishedTables.removeValue(forKey: pid)
            if channel.send(.unwindMappings(UnwindMappings(pid: pid, entries: []))) {
                counters.mappingsRecordsSent += 1
                counters.processesRetired += 1
            }
        }
    }

    /// Publishes the tables of a mappings record: at once with the tables that are
    /// compiled, again when the others are.
    public func publish(_ mappings: Mappings) {
        var entries: [UnwindMapping] = []
        var pendingFiles: [FileIdentity] = []
        if walksInterpreters {
            for mapping in mappings.mappings {
                guard let (interpreter, address) = interpreterFiles.interpreter(at: mapping, pid: mappings.pid) else {
                    // Asked for now, not once the table's compile by path has failed too.
                    if interpreterFiles.awaitsDescriptor(mapping) { requestDescriptor(for: mapping, pid: mappings.pid) }
                    continue
                }
                sendInterpreter(interpreter, address: address, device: mapping.device, inode: mapping.inode,
                                path: mapping.path, pid: mappings.pid,
                                jit: PHPJITBuffer.range(in: mappings.mappings.lazy.map { ($0.path, $0.start, $0.end) }))
            }
            logInterpreterRefusals()
        }
        if walksV8 { publishV8(mappings) }
        for mapping in mappings.mappings.sorted(by: { $0.start < $1.start }) {
            let result = entry(for: mapping, pid: mappings.pid)
            guard case .covered(let entry, let cpython, let hotspot, let ruby) = result else {
                if case .pending = result {
                    // Once per file: a sample counts once for each file its process waits for.
                    let file = FileIdentity(device: mapping.device, inode: mapping.inode)
                    if !pendingFiles.contains(file) { pendingFiles.append(file) }
                } else {
                    counters.mappingsUncovered += 1
                }
                continue
            }
            noteInterpreter(cpython, mapping: entry, path: mapping.path, pid: mappings.pid)
            noteJVM(hotspot, mapping: entry, path: mapping.path, pid: mappings.pid)
            noteRuby(ruby, mapping: entry, path: mapping.path, pid: mappings.pid)
            // Disjoint, as the wire format requires (the kernel's maps are).
            if let last = entries.last, entry.start < last.end { continue }
            entries.append(entry)
        }
        if pendingFiles.isEmpty {
            waiting.removeValue(forKey: mappings.pid)
        } else {
            waiting[mappings.pid] = (mappings, pendingFiles)
        }
        if channel.send(.unwindMappings(UnwindMappings(pid: mappings.pid, entries: entries))) {
            counters.mappingsRecordsSent += 1
            counters.mappingsCovered += entries.count
            publishedTables[mappings.pid] = Set(entries.map(\.tableID))
        }
    }

    /// Names a Node process's V8 to the sampler (control record 23) with each set of its
    /// mappings (after an exec the sampler forgot the old one): once, for the first mapping
    /// of Node's file that places the build's metadata symbol.
    private func publishV8(_ mappings: Mappings) {
        for mapping in mappings.mappings {
            guard let (runtime, address) = v8Files.runtime(at: mapping, pid: mappings.pid) else {
                let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
                if let reason = v8Files.refusals[identity], loggedInterpreters.insert(identity).inserted {
                    logger.info("no JavaScript frames for \(mapping.path): \(reason)")
                }
                continue
            }
            let layout = runtime.layout
            let record = V8Process(pid: mappings.pid, v8Version: layout.version, v8Patch: UInt32(layout.patch),
                                   address: address, device: mapping.device, inode: mapping.inode)
            // Urgent, as CPython's: a few bytes the process's JavaScript frames wait on.
            guard channel.send(.v8Process(record), urgent: true) else { return }
            counters.v8ProcessesSent += 1
            if loggedInterpreters.insert(FileIdentity(device: mapping.device, inode: mapping.inode)).inserted {
                logger.debug("\(layout) in \(mapping.path): walking the JavaScript frames of its processes")
            }
            return
        }
    }

    /// Names a process's CPython interpreter to the sampler (control record 19) with each
    /// set of its mappings (after an exec the sampler forgot the old one): `_PyRuntime`'s
    /// address is its ELF address less the mapping's bias.
    private func noteInterpreter(_ detection: CPythonInterpreterDetection, mapping: UnwindMapping, path: String, pid: Int32) {
        switch detection {
        case .notCPython:
            return
        case .unsupported(let reason):
            if loggedInterpreters.insert(FileIdentity(device: mapping.device, inode: mapping.inode)).inserted {
                logger.info("no Python frames for \(path): \(reason)")
            }
        case .interpreter(let interpreter):
            // Also for a file the name-based look found (the sampler applies a record again as
            // is): that look reads by path only, and a file the aggregator may not read
            // reaches here through a descriptor the sampler passed.
            sendInterpreter(.cpython(interpreter), address: interpreter.runtimeAddress &- mapping.bias,
                            device: mapping.device, inode: mapping.inode, path: path, pid: pid)
        }
    }

    /// Names a process's JVM to the sampler (control record 21) with each set of its
    /// mappings: each static's address is its ELF address less the mapping's bias.
    private func noteJVM(_ detection: HotSpotRuntimeDetection, mapping: UnwindMapping, path: String, pid: Int32) {
        switch detection {
        case .notHotSpot:
            return
        case .unsupported(let reason):
            if loggedInterpreters.insert(FileIdentity(device: mapping.device, inode: mapping.inode)).inserted {
                logger.info("no Java frames for \(path): \(reason)")
            }
        case .runtime(let runtime):
            // Also for a file the name-based look found (the sampler applies a record again as
            // is), as CPython's: that look reads by path only.
            sendInterpreter(.hotspot(runtime), address: runtime.codeCacheHeapsAddress &- mapping.bias,
                            device: mapping.device, inode: mapping.inode, path: path, pid: pid)
        }
    }

    /// Says once per file why an interpreter found in it is not walked (a thread-safe PHP, a
    /// perl release without a layout): its processes show the interpreter's own C frames only.
    private func logInterpreterRefusals() {
        for (path, reason) in interpreterFiles.takeRefusals() {
            logger.info("no interpreter frames for \(path): \(reason)")
        }
    }

    /// Names `interpreter` to the sampler: control record 19 (CPython, `address` is
    /// `_PyRuntime`'s), 25 (Perl, `address` is `PL_thr_key`'s), 29 (PHP, `address` is
    /// `executor_globals`'s) or 31 (BEAM, `address` is `the_active_code_index`'s, and the
    /// VM's other three move by the same bias) or 27 (Ruby, `address` is the module-id GOT
    /// word's, and `ruby_global_symbols` moves by the same bias), if its runtime is walked.
    /// `jit`: the process's JIT buffer, for PHP (opcache's JIT code, stepped over from `execute_ex`).
    private func sendInterpreter(_ interpreter: MappedInterpreter, address: UInt64, device: UInt64, inode: UInt64,
                                 path: String, pid: Int32, jit: Range<UInt64>? = nil) {
        let record: ControlRecord
        var description: String
        // A limit of the walk worth an operator's notice is logged at info, once per file.
        var level = Logger.Level.debug
        switch interpreter {
        case .cpython(let cpython):
            guard walksCPython else { return }
            record = .cpythonProcess(CPythonProcess(pid: pid, pythonVersion: cpython.version.packed, runtimeAddress: address,
                                                    device: device, inode: inode))
            description = "CPython \(cpython.version) in \(path): walking the Python frames of its processes"
        case .perl(let perl):
            guard walksPerl else { return }
            record = .perlProcess(PerlProcess(pid: pid, perlVersion: perl.version.packed, threadKeyAddress: address,
                                              device: device, inode: inode))
            description = "perl \(perl.version) in \(path): walking the Perl frames of its processes"
        case .php(let php):
            guard walksPHP else { return }
            var process = PHPProcess(pid: pid, phpVersion: php.version.packed, executorGlobalsAddress: address,
                                     device: device, inode: inode)
            if let dispatch = php.dispatch, let jit {
                process.executeDispatch = dispatch.address &+ (address &- php.executorGlobalsAddress)
                process.dispatchCFAOffset = dispatch.cfaOffset
                process.jitStart = jit.lowerBound
                process.jitEnd = jit.upperBound
            }
            record = .phpProcess(process)
            description = "PHP \(php.version) in \(path): walking the PHP frames of its processes"
        case .beam(let machine):
            guard walksBEAM else { return }
            let bias = address &- machine.activeCodeIndexAddress
            record = .beamProcess(BEAMProcess(pid: pid, ertsMajor: UInt32(machine.layout.ertsMajor),
                                              activeCodeIndexAddress: address,
                                              rangesAddress: machine.rangesAddress &+ bias,
                                              atomTableAddress: machine.atomTableAddress &+ bias,
                                              normalExitAddress: machine.normalExitAddress &+ bias,
                                              schedulerDataAddress: machine.schedulerDataAddress &+ bias,
                                              schedulerCountAddress: machine.schedulerCountAddress &+ bias,
                                              frameLayoutAddress: machine.frameLayoutAddress &+ bias,
                                              dirtySchedulerDataAddress: machine.dirtySchedulerDataAddress &+ bias,
                                              dirtySchedulerCountAddress: machine.dirtySchedulerCountAddress &+ bias,
                                              device: device, inode: inode))
            description = "ERTS \(machine.ertsVersion) in \(path): walking the Erlang frames of its processes"
        case .hotspot(let runtime):
            guard walksHotSpot else { return }
            let bias = address &- runtime.codeCacheHeapsAddress
            record = .hotspotProcess(HotSpotProcess(pid: pid, featureVersion: UInt32(runtime.featureVersion),
                                                    codeCacheHeapsAddress: address,
                                                    callStubReturnAddressAddress: runtime.callStubReturnAddressAddress &+ bias,
                                                    device: device, inode: inode))
            description = "HotSpot \(runtime.featureVersion).0.\(runtime.securityVersion) in \(path): walking the Java frames of its processes"
        case .ruby(let vm):
            guard walksRuby else { return }
            let bias = address &- vm.moduleSlotAddress
            let symbols = (try? vm.globalSymbols.get()).map { $0 &+ bias } ?? 0
            record = .rubyProcess(RubyProcess(pid: pid, rubyVersion: vm.version.packed, moduleSlotAddress: address,
                                              tlsOffset: vm.tlsOffset, device: device, inode: inode,
                                              globalSymbolsAddress: symbols))
            description = "Ruby \(vm.version) in \(path): walking the Ruby frames of its processes"
            if case .failure(let reason) = vm.globalSymbols {
                description += "; no frames for its C methods (Integer#times, Kernel#loop): \(reason)"
                level = .info
            }
        }
        // Urgent: a few bytes that would otherwise wait behind the megabytes of tables a
        // stream's first seconds queue (the process's interpreter frames wait on it, its tables not).
        guard channel.send(record, urgent: true) else { return }
        switch interpreter {
        case .cpython: counters.cpythonProcessesSent += 1
        case .perl: counters.perlProcessesSent += 1
        case .php: counters.phpProcessesSent += 1
        case .beam: counters.beamProcessesSent += 1
        case .hotspot: counters.hotspotProcessesSent += 1
        case .ruby: counters.rubyProcessesSent += 1
        }
        if loggedInterpreters.insert(FileIdentity(device: device, inode: inode)).inserted {
            logger.log(level: level, "\(description)")
        }
    }

    /// Names a process's Ruby VM to the sampler (control record 27) with each set of its
    /// mappings: the GOT word of `ruby_current_ec`'s module id, at its ELF address less the bias.
    private func noteRuby(_ detection: RubyInterpreterDetection, mapping: UnwindMapping, path: String, pid: Int32) {
        switch detection {
        case .notRuby:
            return
        case .unsupported(let reason):
            if loggedInterpreters.insert(FileIdentity(device: mapping.device, inode: mapping.inode)).inserted {
                logger.info("no Ruby frames for \(path): \(reason)")
            }
        case .interpreter(let vm):
            sendInterpreter(.ruby(vm), address: vm.moduleSlotAddress &- mapping.bias,
                            device: mapping.device, inode: mapping.inode, path: path, pid: pid)
        }
    }

    /// The sampler evicted these tables for room: they are forgotten (sent again, under
    /// new ids, when needed), and the processes whose last set named one are published
    /// again, since the sampler may have refused that set.
    ///
    /// A process is published again this way at most `maximumRepublishesAfterEviction`
    /// times: when the sampler's budget is smaller than the tables of the processes
    /// running at once, the set it refused would otherwise be sent, evict, and be
    /// refused again without end.
    public func noteEvicted(_ tableIDs: [UInt32]) {
        let evicted = Set(tableIDs)
        counters.tablesEvicted += evicted.count
        sentTables = sentTables.filter { !evicted.contains($0.value) }
        let affected = publishedTables.filter { !$0.value.isDisjoint(with: evicted) }.keys.sorted()
        for pid in affected {
            guard let mappings = latest[pid], lastSampleTime[pid] != nil else { continue }
            guard republishedAfterEviction[pid, default: 0] < Self.maximumRepublishesAfterEviction else {
                counters.republishesSkipped += 1
                continue
            }
            republishedAfterEviction[pid, default: 0] += 1
            publish(mappings)
        }
    }

    static let maximumRepublishesAfterEviction = 3

    /// Sends the sets that waited for tables now compiled; call after each chunk of input.
    public func poll() {
        guard !waiting.isEmpty else { return }
        for (pid, entry) in waiting.sorted(by: { $0.key < $1.key }) where isReady(entry.mappings) {
            waiting.removeValue(forKey: pid)
            publish(entry.mappings)
        }
        channel.flush()
    }

    private func isReady(_ mappings: Mappings) -> Bool {
        mappings.mappings.allSatisfy { mapping in
            guard let request = tableRequest(for: mapping, pid: mappings.pid) else { return true }
            switch cache.tableOrSchedule(for: request.identity, paths: request.paths, size: request.size) {
            case .pending: return false
            // Waits for the sampler's answer once asked; not asked yet: publish() asks.
            case .unreadable: return refusal(of: request.identity, pid: mappings.pid) != nil || !isRequested(request.identity)
            case .compiled, .failed: return true
            }
        }
    }

    /// Sends an empty set for a pid that exec'd or exited, so its old tables stop applying.
    public func forget(pid: Int32) {
        waiting.removeValue(forKey: pid)
        latest.removeValue(forKey: pid)
        publishedTables.removeValue(forKey: pid)
        republishedAfterEviction.removeValue(forKey: pid)
        guard lastSampleTime.removeValue(forKey: pid) != nil else { return }
        if channel.send(.unwindMappings(UnwindMappings(pid: pid, entries: []))) {
            counters.mappingsRecordsSent += 1
        }
    }

    // MARK: Descriptor passing

    /// Why the sampler will not pass `identity` for `pid`, if it said so.
    private func refusal(of identity: FileIdentity, pid: Int32) -> String? {
        if let reason = refused[identity] { return reason }
        return unknownTo[identity]?.contains(pid) == true ? "\(FileDescriptorStatus.unknownMapping)" : nil
    }

    private func isRequested(_ identity: FileIdentity) -> Bool {
        outstanding[identity] != nil || requestQueue.contains { FileIdentity(device: $0.device, inode: $0.inode) == identity }
    }

    private func requestFile(_ request: FileRequest, path: String, reason: String) {
        logger.info("asking the sampler for a descriptor of \(path) (pid \(request.pid)): this process cannot open it: \(reason)")
        requestQueue.append(request)
        sendQueuedRequests()
    }

    private func sendQueuedRequests() {
        while outstanding.count < maximumOutstandingRequests, !requestQueue.isEmpty {
            let request = requestQueue.removeFirst()
            guard channel.send(.fileRequest(request), urgent: true) else {
                refused[FileIdentity(device: request.device, inode: request.inode)] = "the control queue is full"
                continue
            }
            outstanding[FileIdentity(device: request.device, inode: request.inode)] = request
            counters.fileRequestsSent += 1
        }
    }

    /// The sampler's answer to a file request, with the descriptor that rode on the
    /// record (owned from here on: handed to the cache or closed).
    public func noteAnswer(_ answer: FileDescriptorAnswer, descriptor: consuming FileDescriptor?) {
        let identity = FileIdentity(device: answer.device, inode: answer.inode)
        guard let request = outstanding.removeValue(forKey: identity) else {
            _ = consume descriptor  // closed
            counters.descriptorsRejected += 1
            logger.warning("file descriptor answer for dev \(answer.device) inode \(answer.inode) that was not requested; ignored")
            return
        }
        defer { sendQueuedRequests() }
        // One that came with another status closes with `descriptor`.
        guard answer.status == .attached, let file = descriptor.take() else {
            counters.fileRequestsRefused += 1
            var reason = answer.status == .attached ? "no descriptor arrived with the record" : "\(answer.status)"
            if answer.status == .openFailed { reason += " (\(String(cString: strerror(Int32(truncatingIfNeeded: answer.errorNumber)))))" }
            if answer.status == .busy, busyRetries[identity, default: 0] < maximumBusyRetries {
                busyRetries[identity, default: 0] += 1
                requestQueue.append(request)
                return
            }
            if answer.status == .unknownMapping {
                unknownTo[identity, default: []].insert(answer.pid)
            } else {
                refused[identity] = reason
            }
            logger.info("the sampler passed no descriptor for dev \(answer.device) inode \(answer.inode) (pid \(answer.pid)): \(reason)")
            return
        }
        if let problem = Self.checkDescriptor(file.rawValue, identity: identity, limit: maximumFileSize) {
            _ = consume file  // closed
            counters.descriptorsRejected += 1
            refused[identity] = problem
            logger.warning("descriptor from the sampler rejected (pid \(answer.pid)): \(problem)")
            return
        }
        let opened: OpenFile
        switch OpenFile.adopt(file, name: "descriptor of dev \(answer.device) inode \(answer.inode)") {
        case .success(let adopted):
            opened = adopted
        case .failure(let problem):
            counters.descriptorsRejected += 1
            refused[identity] = problem.description
            logger.warning("descriptor from the sampler rejected (pid \(answer.pid)): \(problem)")
            return
        }
        counters.descriptorsReceived += 1
        logger.info("received a descriptor of dev \(answer.device) inode \(answer.inode) from the sampler (pid \(answer.pid)); kept for its unwind table and symbols")
        cache.keepPassedFile(opened, identity: identity)
        cache.compile(identity: identity, passedFile: opened, size: Int(clamping: request.end &- request.start))
        if walksInterpreters {
            // An interpreter the name-based look could not read: named now, not after the compile.
            for found in interpreterFiles.examinePassed(opened, identity: identity) {
                sendInterpreter(found.interpreter, address: found.address, device: found.mapping.device,
                                inode: found.mapping.inode, path: found.mapping.path, pid: found.pid)
            }
            logInterpreterRefusals()
            channel.flush()
        }
    }

    /// Asks the sampler for the file of `mapping`, which the symbolizer could not open by
    /// path: the request a table would make, unless the file is held, asked for or refused.
    /// (A file whose table was compiled on an earlier connection is not asked for again
    /// otherwise.)
    public func requestDescriptor(for mapping: Mapping, pid: Int32) {
        let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
        guard cache.passedFile(identity) == nil, !isRequested(identity), refusal(of: identity, pid: pid) == nil else { return }
        requestFile(FileRequest(pid: pid, start: mapping.start, end: mapping.end, device: mapping.device, inode: mapping.inode),
                    path: mapping.path, reason: "no path opened it for its symbols")
    }

    /// Why `fd` is not the regular file `identity` of at most `limit` bytes (`fstat`), or nil.
    public static func checkDescriptor(_ fd: Int32, identity: FileIdentity, limit: Int) -> String? {
        let name = "descriptor of dev \(identity.device) inode \(identity.inode)"
        guard case .failure(let failure) = FileReadFailure.check(fd, name: name, identity: identity, limit: limit) else { return nil }
        return failure.description
    }

    private enum MappingResult {
        case covered(UnwindMapping, CPythonInterpreterDetection, HotSpotRuntimeDetection, RubyInterpreterDetection)
        case pending
        case uncovered
    }

    /// The file behind a mapping, where to read it, and the mapping's length (which
    /// orders the compiles); nil for pseudo files and anonymous memory.
    private func tableRequest(for mapping: Mapping, pid: Int32) -> (identity: FileIdentity, paths: [String], size: Int)? {
        guard mapping.end > mapping.start, MappedFilePath.refusal(path: mapping.path, inode: mapping.inode) == nil
        else { return nil }
        // The process's own view of its files first (containers), then the host's.
        return (FileIdentity(device: mapping.device, inode: mapping.inode),
                ["/proc/\(pid)/root\(mapping.path)", mapping.path], Int(clamping: mapping.end - mapping.start))
    }

    private func entry(for mapping: Mapping, pid: Int32) -> MappingResult {
        guard let (identity, paths, size) = tableRequest(for: mapping, pid: pid) else { return .uncovered }
        let compiled: CompiledUnwindTable
        switch cache.tableOrSchedule(for: identity, paths: paths, size: size) {
        case .compiled(let table):
            compiled = table
        case .pending:
            return .pending
        case .failed(let reason):
            if loggedFailures.insert(identity).inserted {
                logger.debug("no unwind table for \(mapping.path): \(reason)")
            }
            return .uncovered
        case .unreadable(let reason):
            // Passed already (asked for by the symbolizer, or while a path was being tried).
            if let file = cache.passedFile(identity) {
                cache.compile(identity: identity, passedFile: file, size: size)
                return .pending
            }
            if let refusal = refusal(of: identity, pid: pid) {
                if loggedFailures.insert(identity).inserted {
                    logger.debug("no unwind table for \(mapping.path): \(reason); the sampler passed no descriptor: \(refusal)")
                }
                return .uncovered
            }
            // A deleted file (or a memfd) has no path the sampler could open either.
            if mapping.path.hasSuffix(" (deleted)") { return .uncovered }
            if !isRequested(identity) {
                requestFile(FileRequest(pid: pid, start: mapping.start, end: mapping.end, device: mapping.device,
                                        inode: mapping.inode), path: mapping.path, reason: reason)
            }
            return .pending
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
            logger.debug("sending the unwind table of \(mapping.path) (pid \(pid)): \(compiled.serialized.count) bytes, waited \(compiled.waitedForWorker) for a worker, compiled in \(compiled.compileDuration)")
            if let debugFile = compiled.separateDebugFile {
                logger.debug("unwind table of \(mapping.path) includes the .debug_frame of \(debugFile)")
            }
            for warning in compiled.debugFileWarnings {
                logger.debug("debug file not used for the unwind table of \(mapping.path): \(warning)")
            }
        }
        return .covered(UnwindMapping(start: mapping.start, end: mapping.end, tableID: tableID, bias: bias,
                                      device: identity.device, inode: identity.inode), compiled.cpython, compiled.hotspot, compiled.ruby)
    }
}
