import CTandemMalloc
import Logging
import ProfileOutputs
#if canImport(Glibc)
import Glibc
#endif
import ProfilingMetrics
import Profiles
import Symbolization
import StreamDecoding
import SystemCalls
import WireFormat

/// Decodes, symbolizes and measures one stream, from one connection or one
/// capture file, and hands the metrics to the runtime's exporters.
///
/// Time comes only from the stream, so replaying a capture gives the same
/// metrics as the live run that recorded it.
public final class StreamPipeline: StreamConsumer, ControlRecordProducer, DescriptorReceiver {
    /// How far behind the newest sample time a metrics window is kept open for
    /// samples of other CPUs that arrive late.
    static let lateness: UInt64 = 1_000_000_000

    private let runtime: AggregatorRuntime
    private let logger: Logger
    private var decoder = StreamDecoder()
    /// Decodes the stream ahead of `decoder` for the unwind publisher only (`preview`):
    /// a new process's tables must not wait until the symbolizer has worked through
    /// the backlog before its first sample. Its errors are the main decoder's to report.
    private var scout = StreamDecoder()
    private var scoutFailed = false
    private let symbolizer: Symbolizer
    /// The metrics connector, on its own thread; nil until the header.
    private var metrics: MetricsStage?
    /// The samples for the profiles exporters; nil when no `profiles` pipeline has one.
    private var profilesWindow: ProfilesWindow?
    private var profile: ProfileAggregate?
    /// The off-CPU samples by the nanoseconds waited; nil without an off-CPU output.
    private var offCPUProfile: ProfileAggregate?
    private var summary = RunSummary()
    private var header: StreamHeader?
    private var newestTime: UInt64 = 0
    private var firstSampleTime: UInt64?
    private var nextFlushTime: UInt64 = 0
    private var lastStatistics: SamplerStatistics?
    private var reportedDrops: UInt64 = 0
    private var finished = false
    /// This stream's decoded samples, visible to the runtime until `finish` merges them.
    private let tally: StreamTally
    private let unwindTables: UnwindTableCache
    /// The connection's way back to the sampler; nil for captures.
    private var control: ControlChannel?
    /// Set when the stream header says the sampler reads unwind tables.
    private var unwindPublisher: UnwindTablePublisher?
    /// Descriptors the sampler passed, until a file descriptor record takes them.
    private var receivedDescriptors = ReceivedDescriptors()
    /// The symbolizer's side of descriptor passing: files no path opens, kept by the
    /// unwind table cache and asked for through the unwind publisher.
    private let passedFiles: ConnectionPassedFiles
    /// Descriptor passing's problems on this connection (each also logged).
    public private(set) var descriptorCounters = DescriptorCounters()

    public struct DescriptorCounters: Hashable, Sendable {
        /// Descriptors that arrived with no file descriptor record to take them (closed).
        public var unmatched = 0
        /// Descriptors that arrived with a file descriptor record that said "attached".
        public var matched = 0
        /// Reads whose ancillary data was cut (`MSG_CTRUNC`): descriptors lost.
        public var truncatedReads = 0
        /// File descriptor records that said "attached" but came without one.
        public var missing = 0
    }

    /// Processes whose unwind tables are not sent (the daemons themselves).
    private let unwindExcludedPIDs: Set<Int32>
    /// Samples taken before this long after the sampler started (the stream's start when
    /// the header does not say) are counted in `RunSummary.skippedSamples` and left out of
    /// every output: replay's `--skip-seconds`, to look at a run past its start-up.
    private let skippedStart: UInt64
    /// The monotonic time from which samples count, once the header is known.
    private var countedFrom: UInt64 = 0

    public init(runtime: AggregatorRuntime, logger: Logger, unwindTables: UnwindTableCache = .shared,
                unwindExcludedPIDs: Set<Int32> = [], skippingFirst skippedStart: Duration = .zero) {
        self.unwindExcludedPIDs = unwindExcludedPIDs
        let (seconds, attoseconds) = skippedStart.components
        self.skippedStart = UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
        self.runtime = runtime
        self.logger = logger
        self.unwindTables = unwindTables
        self.passedFiles = ConnectionPassedFiles(cache: unwindTables)
        self.symbolizer = Symbolizer(options: runtime.symbolizerOptions, logger: logger)
        self.profile = runtime.outputs.needsProfile ? runtime.makeProfile() : nil
        self.offCPUProfile = runtime.outputs.needsOffCPUProfile ? runtime.makeProfile() : nil
        if !runtime.profilesExporters.isEmpty {
            profilesWindow = ProfilesWindow(interval: runtime.configuration.profilingReceiver.reporterInterval)
        }
        self.tally = runtime.openStream()
        summary.streams = 1
    }

    deinit {
        // A pipeline let go of without `finish` (a test's, a failed start) ends its stage's thread.
        metrics?.close()
    }

    /// Symbolizes and measures `bytes`. With a control channel, the same bytes must have
    /// gone through `preview` first: the unwind publisher is fed there, not here, so that
    /// the two can run on different threads (the server's reader and its consumer).
    public func consume(_ bytes: ArraySlice<UInt8>) throws {
        summary.bytes += bytes.count
        let samplesBefore = summary.samples
        defer { tally.add(samples: summary.samples - samplesBefore) }
        // What was counted is handed to the metrics stage even when a record throws.
        defer { metrics?.submitPending() }
        decoder.feed(bytes)
        while true {
            guard let record = try decoder.next() else { break }
            try handle(record)
        }
    }

    /// Decodes `bytes` (the stream's next bytes, as read, before `consume` gets them)
    /// for what the unwind publisher needs: processes, mappings, first samples,
    /// evictions and file descriptor answers. Publishing is then as far behind the
    /// sampler as the connection's reads, not as the symbolizer's work.
    public func preview(_ bytes: ArraySlice<UInt8>) {
        guard control != nil, !scoutFailed else { return }
        scout.feed(bytes)
        do {
            while true {
                let offset = scout.bytesConsumed
                guard let record = try scout.next() else { break }
                notePublisher(record, at: offset)
            }
        } catch {
            scoutFailed = true
        }
        for (mapping, pid) in passedFiles.takeWanted() {
            unwindPublisher?.requestDescriptor(for: mapping, pid: pid)
        }
        unwindPublisher?.poll()
        control?.flush()
    }

    /// What the unwind publisher learns from a record seen by `preview`.
    private func notePublisher(_ record: Record, at offset: Int) {
        switch record {
        case .header(let header):
            if header.controlVersion >= ControlStream.currentVersion, let control {
                unwindPublisher = UnwindTablePublisher(cache: unwindTables, channel: control, logger: logger)
                unwindPublisher?.excludedPIDs = unwindExcludedPIDs
                unwindPublisher?.maximumProcesses = runtime.symbolizerOptions.maximumProcesses
                unwindPublisher?.walksCPython = runtime.configuration.profilingReceiver.walksPython
                unwindPublisher?.walksHotSpot = runtime.configuration.profilingReceiver.walksHotSpot
                unwindPublisher?.walksPerl = runtime.configuration.profilingReceiver.walksPerl
                unwindPublisher?.walksRuby = runtime.configuration.profilingReceiver.walksRuby
                unwindPublisher?.walksPHP = runtime.configuration.profilingReceiver.walksPHP
                unwindPublisher?.walksV8 = runtime.configuration.profilingReceiver.walksV8
                unwindPublisher?.walksBEAM = runtime.configuration.profilingReceiver.walksBEAM
            }
        case .fileDescriptor(let answer):
            handleFileDescriptor(answer, at: offset)
        case .sample(let sample):
            unwindPublisher?.noteSample(pid: sample.pid, time: sample.time)
        case .process(let process):
            if process.isExec { unwindPublisher?.forget(pid: process.pid) }
        case .mappings(let mappings):
            unwindPublisher?.noteMappings(mappings)
        case .processExit(let exit):
            unwindPublisher?.forget(pid: exit.pid)
        case .unwindTablesEvicted(let evicted):
            unwindPublisher?.noteEvicted(evicted.tableIDs)
        default:
            break
        }
    }

    public func attach(control: ControlChannel) {
        self.control = control
    }

    public func receive(descriptors: [FileDescriptorReference], with offsets: Range<Int>) {
        receivedDescriptors.receive(descriptors, with: offsets)
    }

    public func noteTruncatedDescriptors() {
        descriptorCounters.truncatedReads += 1
        logger.warning("descriptors from the sampler were lost: more arrived in one read than its buffer holds (MSG_CTRUNC)")
    }

    /// A file descriptor record starting at stream offset `offset`: takes the descriptor
    /// that arrived with that byte (closing older ones no record took) and hands it to
    /// the unwind publisher. Captures and replays have neither descriptors nor a publisher.
    private func handleFileDescriptor(_ answer: FileDescriptorAnswer, at offset: Int) {
        let unmatchedBefore = receivedDescriptors.unmatched
        // Only an "attached" record takes one; any other leaves it to be closed as unmatched.
        let descriptor = answer.status == .attached ? receivedDescriptors.take(forRecordAt: offset) : nil
        if receivedDescriptors.unmatched > unmatchedBefore {
            descriptorCounters.unmatched += receivedDescriptors.unmatched - unmatchedBefore
            logger.warning("\(receivedDescriptors.unmatched - unmatchedBefore) descriptors from the sampler came with no file descriptor record; closed")
        }
        if descriptor != nil { descriptorCounters.matched += 1 }
        if answer.status == .attached, descriptor == nil, control != nil {
            descriptorCounters.missing += 1
            logger.warning("file descriptor record for pid \(answer.pid) arrived without its descriptor")
        }
        // Without a publisher, the descriptor closes here.
        unwindPublisher?.noteAnswer(answer, descriptor: descriptor)
    }

    private func handle(_ record: Record) throws {
        switch record {
        case .sample(let sample):
            summary.samples += 1
            guard sample.time >= countedFrom else {
                summary.skippedSamples += 1
                return
            }
            let symbolized = symbolizer.symbolize(sample)
            if sample.offCPUNanoseconds > 0 {
                // Waiting, not CPU time: in neither the metrics (on-CPU by definition) nor
                // the on-CPU profiles.
                summary.offCPUSamples += 1
                summary.addOffCPU(nanoseconds: sample.offCPUNanoseconds)
                offCPUProfile?.add(symbolized, weight: Int64(clamping: sample.offCPUNanoseconds))
                // The profiles exporters send it as its own profile (OTLP's second one).
                profilesWindow?.add(symbolized, at: sample.time, fileIdentity: symbolizer.fileIdentity(pid:mappedPath:))
            } else {
                metrics?.add(symbolized)
                profile?.add(symbolized)
                profilesWindow?.add(symbolized, at: sample.time, fileIdentity: symbolizer.fileIdentity(pid:mappedPath:))
            }
            if firstSampleTime == nil { firstSampleTime = sample.time }
            if sample.time > newestTime {
                newestTime = sample.time
                if newestTime >= nextFlushTime { flushMetrics() }
                if profilesWindow?.isDue(at: newestTime) == true { flushProfiles() }
            }
        case .header(let header):
            self.header = header
            if skippedStart > 0 {
                let start = header.samplerStartTime == 0 ? header.clock.monotonicNanoseconds : header.samplerStartTime
                countedFrom = start.addingReportingOverflow(skippedStart).overflow ? .max : start + skippedStart
            }
            summary.hostNames.insert(header.hostName)
            // A sampler that reads control records passes files the symbolizer cannot open.
            if control != nil, header.controlVersion >= ControlStream.currentVersion {
                symbolizer.passedFiles = passedFiles
            }
            let context = MetricsStreamContext(hostName: header.hostName,
                                               monotonicNanoseconds: header.clock.monotonicNanoseconds,
                                               realtimeNanoseconds: header.clock.realtimeNanoseconds)
            let connector = try ProfilingMetricsConnector(settings: runtime.metricsSettings, stream: context,
                                                          batchInterval: runtime.configuration.profilingReceiver.reporterInterval,
                                                          scopeVersion: TandemBuild.version)
            metrics = MetricsStage(connector: connector, runtime: runtime, logger: logger)
            logger.info("stream from \(header.hostName) (kernel \(header.kernelRelease), \(header.cpuCount) CPUs, \(header.samplesPerSecond) Hz, sampler \(header.samplerVersion))")
        case .statistics(let statistics):
            noteDrops(statistics)
            lastStatistics = statistics
            runtime.noteSamplerStatistics(
                run: SamplerRun(header: header, stream: tally.number),
                collected: statistics[.samplesCollected],
                drops: Dictionary(statistics.counters.filter { $0.key.isDrop }.map { ("\($0.key)", $0.value) },
                                  uniquingKeysWith: { $1 }),
                unrecorded: Dictionary(statistics.counters.filter { $0.key.isUnrecordedEvent }.map { ("\($0.key)", $0.value) },
                                       uniquingKeysWith: { $1 }))
            if statistics.time > newestTime { newestTime = statistics.time }
            flushMetrics()
            if profilesWindow?.isDue(at: newestTime) == true { flushProfiles() }
        case .process:
            summary.processes += 1
            symbolizer.apply(record)
        case .fileDescriptor, .unwindTablesEvicted:
            // The unwind publisher's, taken by `preview`.
            break
        default:
            symbolizer.apply(record)
        }
    }

    /// Exports the metrics windows that have closed (on the metrics stage's thread).
    private func flushMetrics() {
        guard let metrics else { return }
        nextFlushTime = newestTime + Self.lateness / 4
        guard newestTime > Self.lateness else { return }
        metrics.flush(upTo: newestTime - Self.lateness)
    }

    /// Hands the profiles collected since the last batch to the profiles exporters.
    private func flushProfiles() {
        guard let header, let batch = profilesWindow?.take(clock: header.clock, hostName: header.hostName,
                                                            hostID: runtime.hostID,
                                                            samplesPerSecond: header.samplesPerSecond,
                                                            host: sampledHost(header)) else { return }
        runtime.export(batch)
    }

    /// The host facts of the stream header; the machine only when the aggregator runs on
    /// the sampled host (it knows the host's id then), for the header does not name it.
    private func sampledHost(_ header: StreamHeader) -> SampledHost {
        let started = header.samplerStartTime == 0 ? nil
            : header.clock.unixNanoseconds(ofMonotonic: header.samplerStartTime) / 1_000_000
        return SampledHost(kernelRelease: header.kernelRelease, machine: runtime.hostID == nil ? nil : HostMachine.current,
                           samplerVersion: header.samplerVersion, cpuCount: header.cpuCount,
                           samplerStartUnixMillis: started)
    }

    /// Logs a warning when the sampler reports new drops, so they are never silent.
    private func noteDrops(_ statistics: SamplerStatistics) {
        let drops = statistics.totalDrops
        guard drops > reportedDrops else { return }
        let reasons = statistics.counters.filter { $0.key.isDrop && $0.value > 0 }
            .sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        logger.warning("the sampler dropped \(drops - reportedDrops) more samples (total \(reasons))")
        reportedDrops = drops
    }

    /// Checks that the input ended between records, as a whole stream does (a capture's
    /// end): throws the decoder's `.truncated` error for an empty input or one cut inside
    /// the header or a record. Then call `finish(error:)` with what it threw, if anything.
    public func endOfInput() throws(WireFormatError) {
        try decoder.finish()
    }

    public func finish(error: (any Error)?) {
        guard !finished else { return }
        finished = true
        descriptorCounters.unmatched += receivedDescriptors.count
        receivedDescriptors.closeAll()
        if let error {
            summary.malformedStreams += error is WireFormatError ? 1 : 0
        } else {
            do {
                try decoder.finish()
            } catch {
                summary.malformedStreams += 1
                logger.error("stream ended inside a record: \(error)")
            }
        }
        if let metrics {
            let held = metrics.finish(at: newestTime)
            summary.aggregatorDrops["max_processes_per_window, samples"] = UInt64(held.droppedSamples)
        }
        if profilesWindow != nil {
            flushProfiles()
            if let dropped = profilesWindow?.droppedSamples, dropped > 0 {
                logger.warning("\(dropped) samples were left out of the profiles: a batch holds at most \(ProfilesWindow.maximumSamples); shorten receivers.profiling.reporter_interval")
                summary.aggregatorDrops["profiles batch size, samples"] = dropped
            }
        }
        if let unwindPublisher, let control {
            let sent = unwindPublisher.counters
            if sent.fileRequestsSent > 0 {
                logger.info("descriptor passing: \(sent.fileRequestsSent) file requests sent, \(sent.descriptorsReceived) descriptors received, \(sent.fileRequestsRefused) refused, \(sent.descriptorsRejected + descriptorCounters.unmatched) rejected or unmatched, \(descriptorCounters.truncatedReads) truncated reads")
            }
            logger.info("unwind tables: \(sent.tablesSent) tables and \(sent.mappingsRecordsSent) mappings records sent (\(sent.mappingsCovered) mappings covered, \(sent.mappingsUncovered) not), \(sent.processesRetired) idle processes gave theirs back, \(sent.processesIgnored) records of processes past max_processes ignored, \(sent.tablesEvicted) evicted by the sampler for room (\(sent.republishesSkipped) processes not sent again: --unwind-table-entries is too small for the processes running at once), \(control.counters.recordsDropped) records dropped, \(control.counters.bytesSent) bytes\(control.failure.map { "; the sampler stopped taking them: \($0)" } ?? "")")
        }
        if let lastStatistics {
            summary.samplerCollected = lastStatistics[.samplesCollected]
            for (counter, value) in lastStatistics.counters where counter.isDrop {
                summary.samplerDrops[counter.description] = value
            }
            for (counter, value) in lastStatistics.counters where counter.isUnrecordedEvent {
                summary.samplerUnrecorded[counter.description] = value
            }
        }
        let symbolization = symbolizer.statistics
        if symbolization.lineTablesLoaded + symbolization.lineTableFailures + symbolization.lineTablesOverLimit > 0 {
            logger.info("source lines: \(symbolization.lineTablesLoaded) line tables read, \(symbolization.framesWithLines) frames given a file and line, \(symbolization.lineTableFailures) files with malformed line information, \(symbolization.lineTablesOverLimit) over the row cap (\(symbolizer.options.maximumLineRows) rows), \(symbolization.lineTablesEvicted) tables dropped for the \(symbolizer.options.maximumLineTableBytes >> 20) MiB budget")
        }
        summary.framesResolved = Int(symbolization.framesResolved)
        summary.framesUnresolved = Int(symbolization.framesUnresolved)
        summary.unknownProcessSamples = Int(symbolization.unknownProcessSamples)
        summary.aggregatorDrops["max_processes, process records"] = symbolization.processRecordsDropped
        summary.aggregatorDrops["max_mappings_per_process / max_mappings, mappings"] = symbolization.mappingsDropped
        summary.aggregatorDrops["max_kernel_symbols, kernel symbols"] = symbolization.kernelSymbolsDropped
        let clock = header?.clock
        runtime.merge(tally: tally, profile: profile, offCPUProfile: offCPUProfile, summary: summary, samplesPerSecond: header?.samplesPerSecond ?? 0,
                      firstSample: firstSampleTime.flatMap { clock?.unixNanoseconds(ofMonotonic: $0) },
                      lastSample: clock?.unixNanoseconds(ofMonotonic: newestTime))
        profile = nil
        offCPUProfile = nil
        releaseStreamState()
    }

    /// What the stream made the pipeline hold, against the limits: processes and
    /// mappings of the symbolizer, kernel symbols, processes of the metrics windows
    /// (once the metrics stage has done the work submitted so far).
    public var retainedEntries: (processes: Int, mappings: Int, kernelSymbols: Int, windowProcesses: Int) {
        let symbolizer = symbolizer.retained
        return (symbolizer.processes, symbolizer.mappings, symbolizer.kernelSymbols, metrics?.waitUntilIdle().heldProcesses ?? 0)
    }

    /// Processes the unwind publisher keeps state for (mappings, last sample time); nil
    /// when the stream has no control channel.
    public var retainedUnwindProcesses: (mappings: Int, sampled: Int)? { unwindPublisher?.trackedProcesses }

    /// Lets go of the stream's state once it ended, whoever still holds the pipeline,
    /// and gives the freed heap back to the system (`malloc_trim`: glibc keeps freed
    /// memory of the connection's thread arena otherwise; measured in docs/benchmarks.md):
    /// a connection that made the aggregator grow must not leave it that large.
    private func releaseStreamState() {
        metrics = nil
        profilesWindow = nil
        symbolizer.removeAll()
        decoder = StreamDecoder()
        unwindPublisher = nil
        _ = malloc_trim(0)
    }
}

/// The version of this build, reported in streams' scope and `--version`.
public enum TandemBuild {
    public static let version = "0.1.0"
}
