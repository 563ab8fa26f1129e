import CTandemBPF
import DescriptorPassing
import InterpreterLoading
import Logging
import OffCPULoading
import SystemCalls
import UnwindTableLoading
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// tandem-sampler's main loop: one thread, one timer. Every drain interval it drains
/// the BPF ring buffer, turns its records into stream records (reading /proc for
/// processes it has not described yet), and writes what the destination accepts.
/// The interval is short for `activeWindow` after the start, a new connection or an
/// exec (a new process must be read while it lives), long while nothing starts; the
/// exec doorbell (bpf/sampler.bpf.c) ends a long wait.
public final class Sampler {
    public let configuration: SamplerConfiguration
    private let logger: Logger
    // The state each sample touches is `@exclusivity(unchecked)`: Swift's run-time check of
    // a class's stored property, at every access, was a tenth of the sampler's time at 999 Hz
    // (docs/benchmarks.md). One thread touches them, from `run` and from the drain's
    // callback, and no access to one of them overlaps another access to the same one (the
    // compiler still checks statically what it can see).
    @exclusivity(unchecked) private var processes: ProcessTable
    @exclusivity(unchecked) private var output: StreamOutput
    private var kernelSymbols = EncodedKernelSymbols.empty
    private var kernelModules: [KernelModule] = []
    private var sampledCPUs: [Int] = []
    private var freedHeap = FreedHeap()
    private var reportedUnsampledCPUs: Set<Int> = []
    private var bpf: BPFSampler?
    @exclusivity(unchecked) private var counters = Counters()
    /// Processes that exec'd and have not been sampled since, with the comm and time of
    /// the exec event; an entry leaves at the first sample or at exit, like a process table entry.
    @exclusivity(unchecked) private var pendingExecs: [Int32: (comm: String, time: UInt64)] = [:]
    @exclusivity(unchecked) private var recentExits = RecentExits()
    /// When something last started (`CLOCK_MONOTONIC`): the run, a connection, an exec.
    private var lastStart: UInt64 = 0
    /// Loads the aggregator's unwind tables into the BPF maps; nil when unwinding is off.
    private var unwindLoader: UnwindTableLoader?
    private var controlDecoder = ControlDecoder()
    /// The connection's control stream failed: its bytes are read and discarded.
    private var controlFailed = false
    /// Answers the aggregator's requests for files it may not read (FileDescriptorPassing.swift).
    private var fileRequests = FileRequestAnswerer()
    /// Each runtime's check of the aggregator's process records (InterpreterRuntimes.swift).
    private var interpreters: [any InterpreterLoader] = []
    /// A sample's interpreter frames as stack words, reused from sample to sample.
    @exclusivity(unchecked) private var interpreterWords: [UInt64] = []

    /// The counters of what the aggregator sends back on the control stream (unwind
    /// tables and mappings, file requests) and of the BPF unwinder that uses the tables,
    /// in wire-code order: the stop log's "unwind tables" line.
    static let controlStreamCounters: [StatisticsCounter] = [
        .unwindTablesLoaded, .unwindTablesRejected, .unwindMappingsLoaded, .unwindMappingsRejected,
        .controlStreamErrors, .unwindEntriesUsed, .unwindStacks, .unwindStacksReachedRoot, .unwindStacksTruncated,
        .fileRequests, .fileDescriptorsSent, .fileRequestsRefused, .unwindTablesEvicted,
    ]

    /// Counted in user space; the BPF side's counters are read from its map.
    struct Counters {
        /// Samples appended to a stream; the output counts those it discarded unsent.
        var samplesQueued: UInt64 = 0
        var dropsUserBufferFull: UInt64 = 0
        var dropsDisconnected: UInt64 = 0
        var dropsStackError: UInt64 = 0
        var processReadErrors: UInt64 = 0
        var malformedRecords: UInt64 = 0
        var drains: UInt64 = 0
        var doorbellRings: UInt64 = 0
    }

    /// When this sampler started (`CLOCK_MONOTONIC`): every stream's header names the run by it.
    private let startTime = HostFacts.monotonicNanoseconds()

    public init(configuration: SamplerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.processes = ProcessTable(mappingsRefreshInterval: UInt64(configuration.mappingsRefreshMilliseconds) * 1_000_000)
        self.output = StreamOutput(destination: configuration.destination, bufferLimit: configuration.bufferBytes)
    }

    /// Starts sampling and runs until the duration is over or a termination signal
    /// arrives. Throws when start-up fails (the error says what is missing).
    public func run() throws(SamplerError) {
        try configuration.validate()
        try ProcessCapabilities.current().require(ProcessCapabilities.requiredAtStart)
        sampledCPUs = try CPUList.online()
        try readKernelSymbols()

        // Records come only from run's drains, while self lives: borrowed, with no retain
        // and release per record (an unowned reference would make it strong for each call).
        let this = Unmanaged.passUnretained(self)
        let ringBufferBytes = configuration.ringBufferBytes
            ?? SamplerConfiguration.defaultRingBufferBytes(samplesPerSecond: configuration.samplesPerSecond, cpus: sampledCPUs.count)
        bpf = try BPFSampler(frequency: configuration.samplesPerSecond, cpus: sampledCPUs, ringBufferBytes: ringBufferBytes,
                             unwindEntries: configuration.unwindTableEntries,
                             walksInterpreters: configuration.walksInterpreters, offCPUThreshold: configuration.offCPUThreshold,
                             logger: logger) { record in
            this._withUnsafeGuaranteedRef { $0.handle(record) }
        }
        if let maps = bpf?.unwindMaps { unwindLoader = UnwindTableLoader(storage: maps) }
        defer { unwindLoader = nil }
        interpreters = bpf?.interpreters ?? []
        defer { interpreters = [] }
        defer { bpf = nil }

        let start = HostFacts.monotonicNanoseconds()
        do {
            for pid in try ProcFileSystem().processIDs() where !processes.contains(pid) {
                if processes.learn(pid, comm: "", execTime: nil, now: start).readFailed { counters.processReadErrors += 1 }
            }
        } catch {
            throw .systemCall(error)
        }

        var signals: FileDescriptor?
        if configuration.handlesSignals {
            let fd = tandem_signalfd_for_termination()
            guard fd >= 0 else { throw .systemCall(.last("signalfd")) }
            signals = FileDescriptor(owning: fd)
        }

        if configuration.dropsCapabilities {
            try ProcessCapabilities.dropAll(except: ProcessCapabilities.keptAfterStart)
            logger.debug("capabilities dropped", metadata: ["kept": "\(ProcessCapabilities.keptAfterStart)"])
        }
        logger.info("sampling", metadata: [
            "cpus": "\(sampledCPUs.count)", "samples_per_second": "\(configuration.samplesPerSecond)",
            "processes": "\(processes.count)", "kernel_symbols": "\(kernelSymbols.count)",
            "destination": "\(configuration.destination)",
        ])

        let end = configuration.durationSeconds.map { start &+ UInt64($0 * 1e9) } ?? UInt64.max
        let statisticsInterval = UInt64(configuration.statisticsIntervalMilliseconds) * 1_000_000
        var nextStatistics = start &+ statisticsInterval
        var nextCPUCheck = start &+ Self.cpuCheckInterval
        let drainInterval = UInt64(configuration.drainIntervalMilliseconds) * 1_000_000
        let idleInterval = configuration.idleDrainInterval(ringBufferBytes: ringBufferBytes, cpus: sampledCPUs.count)
        let doorbellDelay = min(drainInterval, max(20_000_000, 2_000_000_000 / UInt64(max(1, configuration.samplesPerSecond))))
        lastStart = start
        var reason = EndOfStream.Reason.finished
        while true {
            let tickStart = HostFacts.monotonicNanoseconds()
            // Armed before the drain: an exec from here on is drained below or rings.
            bpf?.setDoorbell(armed: tickStart >= lastStart &+ Self.activeWindow)
            pumpOutput(now: tickStart)
            recentExits.age()
            try bpf?.drain()
            counters.drains += 1
            if tickStart >= nextStatistics {
                nextStatistics = tickStart &+ statisticsInterval
                output.appendState(.statistics(statistics(now: tickStart)))
                freedHeap.releaseIfGrown()
            }
            if tickStart >= nextCPUCheck {
                nextCPUCheck = tickStart &+ Self.cpuCheckInterval
                checkOnlineCPUs()
            }
            pumpOutput(now: HostFacts.monotonicNanoseconds())
            // A capture file that cannot be written: stop rather than sample for nothing.
            if output.failure != nil { break }
            if HostFacts.monotonicNanoseconds() >= end { break }
            // Not `tickStart - lastStart`: an exec drained after tickStart is later than it.
            let idle = tickStart >= lastStart &+ Self.activeWindow
            if !idle { bpf?.setDoorbell(armed: false) }
            var wake = wait(signals, doorbell: idle, until: min(end, tickStart &+ (idle ? idleInterval : drainInterval)))
            if wake == .doorbell {
                // The new process has no sample yet: drain (reading the exec, which starts the
                // short interval) once two sample periods have likely taken one.
                counters.doorbellRings += 1
                wake = wait(signals, doorbell: false, until: HostFacts.monotonicNanoseconds() &+ doorbellDelay)
            }
            if wake == .signal {
                reason = .shutdown
                logger.info("termination signal received")
                break
            }
        }
        // No sample may be taken after the last drain, so that at exit the BPF side's
        // count equals what was sent plus what was dropped.
        bpf?.stopSampling()
        try bpf?.drain()
        let now = HostFacts.monotonicNanoseconds()
        pumpOutput(now: now)
        output.appendState(.statistics(statistics(now: now)))
        output.finish(reason: reason, now: now, logger: logger)
        let final = statistics(now: now)
        logger.info("stopped", metadata: [
            "samples_collected": "\(final[.samplesCollected])",
            "samples_sent": "\(final[.samplesSent])",
            "drops": "\(final.totalDrops)",
            "drops_by_reason": "\(final.counters.filter { $0.key.isDrop }.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
        ])
        if let unwindLoader {
            let unwind = Sampler.controlStreamCounters.compactMap { counter in final.counters[counter].map { "\(counter)=\($0)" } }
                .joined(separator: " ")
            var metadata: Logger.Metadata = [:]
            if let rejection = unwindLoader.lastRejection { metadata["last_rejection"] = "\(rejection)" }
            if let refusal = fileRequests.lastRefusal { metadata["last_file_refusal"] = "\(refusal)" }
            if let bpf {
                let walks = UnwindTableLoader.walkSummary(counter: bpf.counter)
                (metadata["stops"], metadata["frames"]) = ("\(walks.stops)", "\(walks.frames)")
            }
            logger.info("unwind tables: \(unwind)", metadata: metadata)
        }
        for loader in interpreters {
            logger.info("\(loader.name): \(loader.summary(final))",
                        metadata: loader.lastRejection.map { ["last_rejection": "\($0)"] } ?? [:])
        }
        if let failure = output.failure { throw failure }
    }

    // MARK: Output

    private func pumpOutput(now: UInt64) {
        if output.connectIfDue(now: now, header: makeHeader, logger: logger) {
            // A new connection: its control stream and table ids start over.
            lastStart = now
            unwindLoader?.reset()
            for loader in interpreters { loader.beginStream() }
            controlDecoder = ControlDecoder()
            controlFailed = false
        }
        // No read of the control stream here: `wait` applies its records as they arrive, and
        // a read each pump found nothing, two system calls a tick.
        let modules = kernelModules
        output.continueSnapshot(symbols: kernelSymbols) { [processes] in
            [.kernelModules(KernelModules(modules: modules))] + processes.snapshot()
        }
        output.flush(now: now, logger: logger)
        // A stream that ended in the flush may start again on the next tick.
    }

    /// Applies what the aggregator sent back: unwind tables and mappings. Returns
    /// whether any bytes came.
    @discardableResult
    private func receiveControlRecords() -> Bool {
        guard let loader = unwindLoader else { return false }
        let bytes = output.receiveControl(limit: 64 << 20)
        guard !bytes.isEmpty else { return false }
        guard !controlFailed else { return true }
        controlDecoder.feed(bytes)
        loader.beginBatch()
        defer {
            // Evictions are reported on a live stream only: a new connection starts over.
            let evicted = output.isLive ? loader.takeEvictedTables() : []
            if !evicted.isEmpty { output.appendState(.unwindTablesEvicted(UnwindTablesEvicted(tableIDs: evicted))) }
        }
        do {
            while let record = try controlDecoder.next() {
                if case .fileRequest(let request) = record {
                    answerFileRequest(request)
                    continue
                }
                if interpreters.contains(where: { $0.apply(record) { [processes] pid in processes[pid]?.mappings } }) {
                    continue
                }
                loader.apply(record) { [processes] pid in processes[pid]?.mappings }
            }
        } catch {
            controlFailed = true
            loader.noteControlError(error)
            logger.warning("the aggregator's control stream is malformed; unwind tables from it are ignored until it reconnects",
                           metadata: ["error": "\(error)"])
        }
        return true
    }

    private func answerFileRequest(_ request: FileRequest) {
        let reply = fileRequests.answer(request, known: processes[request.pid]?.mappings,
                                        inFlight: output.descriptorsInFlight, now: HostFacts.monotonicNanoseconds())
        let attached = reply.descriptor != nil
        let answer = reply.answer
        if !output.appendFileDescriptor(answer, descriptor: reply.takeDescriptor()), attached {
            fileRequests.noteUndelivered()
        }
        // Sent now, not at the next tick: the aggregator waits for it to compile a table.
        output.flush(now: HostFacts.monotonicNanoseconds(), logger: logger)
        if !attached {
            logger.debug("file request refused", metadata: ["reason": "\(fileRequests.lastRefusal ?? "")"])
        } else {
            logger.debug("passing a descriptor", metadata: ["pid": "\(request.pid)", "inode": "\(request.inode)"])
        }
    }


    /// About 30 KB encoded: small next to the smallest buffer bound, so a snapshot in
    /// progress stays within the bound too.
    static let kernelSymbolsPerChunk = 1024

    /// Only a socket can answer, and only a sampler with unwind maps listens.
    private var readsControlStream: Bool {
        guard unwindLoader != nil, case .socket = configuration.destination else { return false }
        return true
    }

    /// Called inside `output.connectIfDue`'s access to `output`, which is not checked at run
    /// time (`@exclusivity(unchecked)`): it must not touch `output`.
    private func makeHeader() -> StreamHeader {
        StreamHeader(hostName: HostFacts.hostName(), kernelRelease: HostFacts.kernelRelease(),
                     bootID: HostFacts.bootID(), clock: HostFacts.clockReference(),
                     cpuCount: UInt32(sampledCPUs.count), samplesPerSecond: UInt32(configuration.samplesPerSecond),
                     samplerVersion: SamplerVersion.current,
                     controlVersion: readsControlStream ? ControlStream.currentVersion : 0,
                     samplerStartTime: startTime)
    }

    func statistics(now: UInt64) -> SamplerStatistics {
        let cpu = HostFacts.ownCPUTime()
        // Sized for every counter at once; each is placed by binary search.
        var values = StatisticsCounters(minimumCapacity: Int(TANDEM_COUNTER_COUNT.rawValue) + 32)
        // Samples ahead of this record in the stream, and written ones of earlier streams:
        // a sample discarded unsent moves from sent to dropped.
        values[.samplesSent] = counters.samplesQueued - output.samplesDiscarded
        values[.dropsUserBufferFull] = counters.dropsUserBufferFull
        values[.dropsDisconnected] = counters.dropsDisconnected + output.samplesDiscarded
        values[.samplesDiscardedUnsent] = output.samplesDiscarded
        values[.dropsStackError] = counters.dropsStackError
        values[.dropsMalformedRecord] = counters.malformedRecords
        values[.processReadErrors] = counters.processReadErrors
        values[.drains] = counters.drains
        values[.doorbellRings] = counters.doorbellRings
        values[.samplerUserCPUNanoseconds] = cpu.user
        values[.samplerSystemCPUNanoseconds] = cpu.system
        values[.connections] = output.connections
        values[.bytesSent] = output.bytesSent
        if let unwindLoader {
            unwindLoader.addStatistics(to: &values, counter: bpf?.counter)
            values[.fileRequests] = fileRequests.counters.requests
            values[.fileDescriptorsSent] = fileRequests.counters.descriptorsSent
            values[.fileRequestsRefused] = fileRequests.counters.refused
        }
        if let bpf {
            for loader in interpreters {
                loader.addStatistics(to: &values) { bpf.counter(tandem_counter(rawValue: $0)) }
            }
            // Off-CPU samples count with the others (OffCPUProbes adds their own counters).
            values[.samplesCollected] = bpf.counter(TANDEM_COUNTER_SAMPLES) + bpf.counter(TANDEM_COUNTER_OFFCPU_SAMPLES)
            values[.dropsRingBufferFull] = bpf.counter(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL)
                + bpf.counter(TANDEM_COUNTER_OFFCPU_RINGBUF_FULL)
            OffCPUProbes.addStatistics(to: &values, counter: bpf.counter)
            // Exec and exit events are not samples: counted apart, so that collected
            // samples equal sent plus dropped ones.
            values[.processEventsLost] = bpf.counter(TANDEM_COUNTER_EVENTS_RINGBUF_FULL)
        }
        return SamplerStatistics(time: now, counters: values)
    }

    // MARK: Ring buffer records

    private func handle(_ record: UnsafeRawBufferPointer) {
        guard fits(record, MemoryLayout<tandem_event_header>.size) else { return }
        let header = record.loadUnaligned(as: tandem_event_header.self)
        let pid = Int32(bitPattern: header.pid)
        switch header.kind {
        case TANDEM_EVENT_SAMPLE.rawValue:
            guard let stacks = SampleRecordStacks(packed: record) else {
                counters.malformedRecords += 1
                return
            }
            handleSample(record, header: header, pid: pid, stacks: stacks)
        case TANDEM_EVENT_OFFCPU_SAMPLE.rawValue:
            guard fits(record, MemoryLayout<tandem_offcpu_event>.size) else { return }
            handleSample(record, header: header, pid: pid, stacks: SampleRecordStacks(fixed: record),
                         offCPUNanoseconds: record.loadUnaligned(fromByteOffset: Self.offCPUOffset, as: UInt64.self))
        case TANDEM_EVENT_EXEC.rawValue:
            // The old image's description is void. The new one is read from /proc when
            // the process is first sampled: most of a busy host's execs (compilers, shell
            // pipelines) never land on a sampling tick, and reading five /proc files for
            // each would cost more than all their samples.
            processes.remove(pid)
            unwindLoader?.remove(pid: pid)
            for loader in interpreters { loader.remove(pid: pid) }
            pendingExecs[pid] = (Self.comm(header), header.time)
            recentExits.forget(pid)
            lastStart = max(lastStart, header.time)
        case TANDEM_EVENT_EXIT.rawValue:
            unwindLoader?.remove(pid: pid)
            for loader in interpreters { loader.remove(pid: pid) }
            if processes.remove(pid) {
                output.appendState(.processExit(ProcessExit(pid: pid, time: header.time)))
                // Not live (a snapshot under way): the exit went nowhere, and a late sample reports it.
                recentExits.note(pid, .init(time: header.time, reported: output.isLive))
            } else if let comm = pendingExecs.removeValue(forKey: pid)?.comm {
                // Exec'd and gone without a sample: reported from the events alone.
                reportUnsampled(pid, comm: comm, isExec: true, exitTime: header.time)
            } else {
                recentExits.note(pid, .init(time: header.time, reported: false))
            }
        default:
            handleInterpreterRecord(record, header: header, pid: pid)
        }
    }

    /// A walker's sample (with its runtime's frames) or side record, passed on unparsed.
    private func handleInterpreterRecord(_ record: UnsafeRawBufferPointer, header: tandem_event_header, pid: Int32) {
        if let loader = interpreters.first(where: { $0.sampleEventKind == header.kind }) {
            guard fits(record, loader.sampleEventSize) else { return }
            handleSample(record, header: header, pid: pid, stacks: SampleRecordStacks(fixed: record), interpreter: loader)
        } else if let loader = interpreters.first(where: { $0.sideEventKind == header.kind }) {
            // Not a sample: a record too short is the walker's bug, and it sends the record again.
            guard record.count >= loader.sideEventSize else { return }
            if let side = loader.sideRecord(record, streamIsLive: output.isLive) { output.appendState(side) }
        } else {
            counters.malformedRecords += 1
        }
    }

    /// Whether `record` holds `size` bytes; a shorter one is counted as malformed.
    private func fits(_ record: UnsafeRawBufferPointer, _ size: Int) -> Bool {
        if record.count < size { counters.malformedRecords += 1 }
        return record.count >= size
    }

    private func handleSample(_ record: UnsafeRawBufferPointer, header: tandem_event_header, pid: Int32,
                              stacks: SampleRecordStacks,
                              interpreter: (any InterpreterLoader)? = nil, offCPUNanoseconds: UInt64 = 0) {
        let (kernelBytes, userBytes) = (stacks.kernelBytes, stacks.userBytes)
        guard kernelBytes > 0 || userBytes > 0 else {
            counters.dropsStackError += 1
            return
        }
        let (kernelStack, userStack) = (stacks.kernel, stacks.user)
        // One lookup: nil for a process not seen yet, else whether the user leaf is covered.
        let leafCovered = processes.covers(pid, userStack.first)
        if leafCovered == nil {
            if let exit = recentExits.exit(of: pid) {
                // Taken after the exit: the stream knows the process, or learns it from the events.
                if !exit.reported { reportUnsampled(pid, comm: Self.comm(header), isExec: false, exitTime: exit.time) }
            } else {
                let execTime = pendingExecs.removeValue(forKey: pid)?.time
                describe(pid, comm: Self.comm(header), execTime: execTime, now: header.time)
            }
        }
        var flags: SampleFlags = []
        if kernelBytes < 0 { flags.insert(.kernelStackMissing) }
        if userBytes < 0 { flags.insert(.userStackMissing) }
        let userFlags = record.loadUnaligned(fromByteOffset: Self.userFlagsOffset, as: UInt32.self)
        if userFlags & TANDEM_USER_UNWOUND_WITH_TABLES.rawValue != 0 {
            // The table walk knows whether it reached the thread's root.
            if userFlags & TANDEM_USER_TRUNCATED.rawValue != 0 { flags.insert(.userStackTruncated) }
        } else if userStack.count == Int(TANDEM_MAX_FRAMES) {
            flags.insert(.userStackTruncated)
        }

        // A program counter outside every known executable mapping: something was
        // mapped since the last read (dlopen, JIT). Re-read, at most once per interval.
        // Only the leaf is checked: it is exact, while the frames of code built without
        // frame pointers are often garbage that no re-read would ever cover.
        if leafCovered == false, let mappings = processes.refreshMappings(pid, now: header.time) {
            output.appendState(.mappings(mappings))
        }

        guard output.isLive else {
            counters.dropsDisconnected += 1
            return
        }
        guard output.acceptsSamples else {
            counters.dropsUserBufferFull += 1
            return
        }
        if !interpreterWords.isEmpty { interpreterWords.removeAll(keepingCapacity: true) }
        let interpreterFlags = interpreter?.appendFrameWords(of: record, to: &interpreterWords) ?? 0
        interpreterWords.withUnsafeBufferPointer { interpreterStack in
            output.appendSample(time: header.time, pid: pid, tid: Int32(bitPattern: header.tid), cpu: header.cpu,
                                kernelStack: kernelStack, userStack: userStack, flags: flags,
                                interpreterStack: interpreterStack, interpreterStackKind: interpreter?.stackKind ?? .cpython,
                                interpreterFlags: interpreterFlags,
                                threadName: withUnsafeBytes(of: header.comm) { ThreadName(commBytes: $0) },
                                offCPUNanoseconds: offCPUNanoseconds)
        }
        counters.samplesQueued += 1
    }

    /// Reads `pid` from /proc and streams its Process and Mappings records.
    private func describe(_ pid: Int32, comm: String, execTime: UInt64?, now: UInt64) {
        let learned = processes.learn(pid, comm: comm, execTime: execTime, now: now)
        if learned.readFailed { counters.processReadErrors += 1 }
        output.appendState(.process(learned.process))
        output.appendState(.mappings(learned.mappings))
    }

    /// A process gone before the sampler described it: named from the events alone, with
    /// its exit after, so that neither table keeps it.
    private func reportUnsampled(_ pid: Int32, comm: String, isExec: Bool, exitTime: UInt64) {
        output.appendState(.process(ProcessInfo(pid: pid, parentPID: 0, startTime: 0, comm: comm,
                                                executablePath: "", cgroupPath: "", isExec: isExec)))
        output.appendState(.processExit(ProcessExit(pid: pid, time: exitTime)))
        recentExits.note(pid, .init(time: exitTime, reported: output.isLive))
    }

    private static func comm(_ header: tandem_event_header) -> String {
        withUnsafeBytes(of: header.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    // Computed, so that each folds to a constant (a static let costs a swift_once per use).
    private static var userFlagsOffset: Int { MemoryLayout<tandem_sample_event>.offset(of: \.user_flags)! }
    private static var offCPUOffset: Int { MemoryLayout<tandem_offcpu_event>.offset(of: \.off_cpu_ns)! }

    // MARK: Start-up and housekeeping

    private func readKernelSymbols() throws(SamplerError) {
        do {
            kernelSymbols = EncodedKernelSymbols(KernelSymbolFiles.textSymbols(try ProcFileSystem.readText("/proc/kallsyms")),
                                                 perChunk: Self.kernelSymbolsPerChunk)
        } catch {
            throw .systemCall(error)
        }
        if kernelSymbols.addressesHidden {
            let level = (try? ProcFileSystem.readText("/proc/sys/kernel/kptr_restrict")).flatMap { Int($0.trimmingWhitespace()) }
            throw .kernelSymbolsHidden(kptrRestrict: level)
        }
        // Kernels built without module support have no /proc/modules.
        if let text = try? ProcFileSystem.readText("/proc/modules") {
            kernelModules = KernelSymbolFiles.modules(text)
        }
    }

    /// Hot-plug is rare and only warned about: the sysfs open, read and parse (about 150 µs
    /// here) are not worth more than once a minute.
    static let cpuCheckInterval: UInt64 = 60_000_000_000

    /// How long after the start, a new connection or an exec the drains stay at the short
    /// interval: a process exec'd may be sampled and gone within a long interval, and the
    /// aggregator asks for new processes' files and tables then. Short, since on most hosts
    /// something execs every few seconds (a shell's `sleep`, a health check).
    static let activeWindow: UInt64 = 2_000_000_000

    /// CPUs that came online after start have no event (opening one needs CAP_PERFMON,
    /// dropped by now): report them once.
    private func checkOnlineCPUs() {
        guard let online = try? CPUList.online() else { return }
        let unsampled = Set(online).subtracting(sampledCPUs).subtracting(reportedUnsampledCPUs)
        if !unsampled.isEmpty {
            reportedUnsampledCPUs.formUnion(unsampled)
            logger.warning("\(SamplerError.cpuHotplug(unsampledCPUs: unsampled.sorted()))")
        }
    }

    enum WakeReason { case deadline, signal, doorbell }

    /// Waits until `deadline` (monotonic nanoseconds), a termination signal or (when
    /// `doorbell`) the exec doorbell. Control records that arrive meanwhile are applied at
    /// once: a table of megabytes crosses the socket a buffer at a time, and waiting
    /// for the next tick between buffers would hold a new process's tables back by seconds.
    private func wait(_ signals: borrowing FileDescriptor?, doorbell: Bool, until deadline: UInt64) -> WakeReason {
        // poll(2) skips a negative descriptor: without signal handling, only the timer ends a wait.
        let signalFD: Int32 = switch signals {
        case .some(let signals): signals.rawValue
        case .none: -1
        }
        var watchesControl = readsControlStream
        // Bytes a send left behind go as soon as the socket takes them, not a tick later: one
        // socket buffer (208 KiB) a tick took a stream's 3.5 MB start 4 s to cross.
        var writes = output.bufferedByteCount > 0
        while true {
            let now = HostFacts.monotonicNanoseconds()
            let events = (watchesControl ? POLLIN : 0) | (writes ? POLLOUT : 0)
            var descriptors = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: events == 0 ? -1 : output.controlDescriptor ?? -1, events: Int16(events), revents: 0),
                               pollfd(fd: doorbell ? bpf?.doorbellDescriptor ?? -1 : -1, events: Int16(POLLIN), revents: 0)]
            let milliseconds = deadline > now ? Int32(min((deadline - now) / 1_000_000, 10_000)) : 0
            // poll(2) skips negative descriptors.
            guard poll(&descriptors, 3, milliseconds) > 0 else { return .deadline }
            if descriptors[0].revents & Int16(POLLIN) != 0 { return .signal }
            if descriptors[2].revents & Int16(POLLIN) != 0 { return .doorbell }
            if writes, descriptors[1].revents & Int16(POLLOUT) != 0 {
                let before = output.bufferedByteCount
                output.flush(now: HostFacts.monotonicNanoseconds(), logger: logger)
                writes = output.bufferedByteCount > 0 && output.bufferedByteCount < before
            }
            // Readable and empty means closed: the write side notices at the next tick.
            if watchesControl, descriptors[1].revents & ~Int16(POLLOUT) != 0, !receiveControlRecords() {
                watchesControl = false
            }
            if HostFacts.monotonicNanoseconds() >= deadline { return .deadline }
        }
    }
}
