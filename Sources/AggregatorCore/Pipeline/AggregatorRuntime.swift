import Configuration
import Exporters
import Logging
import ProfileOutputs
import ProfilingMetrics
import Profiles
import Symbolization
import Synchronization
import WireFormat

/// Where `replay` and `serve` write the profiles and the report, if anywhere.
public struct OutputPaths: Hashable, Sendable {
    /// OTLP JSON lines of the metrics; "-" is standard output.
    public var metrics: String?
    public var folded: String?
    public var pprof: String?
    public var flameGraph: String?
    /// The text summary (top leaf functions, frame types, kernel classes).
    public var report: String?
    /// Folded stacks of the off-CPU samples, weighted by the nanoseconds threads waited.
    public var offCPUFolded: String?
    /// The off-CPU samples as a gzipped pprof profile (`events/count`, `off_cpu/nanoseconds`).
    public var offCPUPprof: String?
    /// The off-CPU samples as a flame graph whose widths are time waited.
    public var offCPUFlameGraph: String?

    public init(metrics: String? = nil, folded: String? = nil, pprof: String? = nil, flameGraph: String? = nil,
                report: String? = nil, offCPUFolded: String? = nil, offCPUPprof: String? = nil,
                offCPUFlameGraph: String? = nil) {
        self.offCPUPprof = offCPUPprof
        self.offCPUFlameGraph = offCPUFlameGraph
        self.metrics = metrics
        self.folded = folded
        self.pprof = pprof
        self.flameGraph = flameGraph
        self.report = report
        self.offCPUFolded = offCPUFolded
    }

    /// Every output in `directory`, with fixed names.
    public static func all(in directory: String) -> OutputPaths {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return OutputPaths(metrics: base + "metrics.jsonl", folded: base + "stacks.folded",
                           pprof: base + "profile.pb.gz", flameGraph: base + "flamegraph.svg",
                           report: base + "report.txt", offCPUFolded: base + "off-cpu.folded",
                           offCPUPprof: base + "off-cpu.pb.gz", offCPUFlameGraph: base + "off-cpu-flamegraph.svg")
    }

    /// Whether any output needs the samples kept as a profile.
    var needsProfile: Bool { folded != nil || pprof != nil || flameGraph != nil || report != nil }
    /// Whether any output needs the off-CPU samples kept as a profile (the report's
    /// "where threads wait" among them).
    var needsOffCPUProfile: Bool { offCPUFolded != nil || offCPUPprof != nil || offCPUFlameGraph != nil || report != nil }
}

/// What every stream of one aggregator run shares: the configuration, the
/// exporters, the profile collected for the file outputs, and the counters
/// reported at the end. Each stream gets its own `StreamPipeline`.
public final class AggregatorRuntime: Sendable {
    public let configuration: CollectorConfiguration
    public let outputs: OutputPaths
    /// How the folded stacks and the flame graph name a stack's root (by process or thread).
    let stackPathStyle: StackPathStyle
    let exporters: [any MetricsExporter]
    /// The exporters of the `profiles` pipelines (connectors aside).
    let profilesExporters: [any ProfilesExporter]
    /// The host's `/etc/machine-id`, sent as `host.id` with the profiles; nil for replays.
    let hostID: String?
    let symbolizerOptions: SymbolizerOptions
    private let logger: Logger
    private let state = Mutex(SharedState())

    struct SharedState {
        var profile: ProfileAggregate?
        /// The off-CPU samples, by nanoseconds waited; nil without an off-CPU output.
        var offCPUProfile: ProfileAggregate?
        /// `samples.kernel.count` as exported, by classification, for the text report.
        var kernelSamples: [KernelStackClassification: Int64] = [:]
        var summary = RunSummary()
        var firstSampleUnixNanoseconds: UInt64?
        var lastSampleUnixNanoseconds: UInt64?
        var samplesPerSecond: UInt32 = 0
        /// Streams not finished yet, by identity: their samples are in no summary yet.
        var openStreams: [ObjectIdentifier: StreamTally] = [:]
        var streamsOpened: UInt64 = 0
        /// The newest statistics of each sampler run (cumulative since that sampler
        /// started, over all its streams): the samplers' counters in the summary and the
        /// periodic statistics line, each run counted once however often it reconnected.
        var samplerRuns: [SamplerRun: SamplerRunCounters] = [:]
    }

    /// A sampler run's newest counters.
    struct SamplerRunCounters {
        var collected: UInt64
        var drops: [String: UInt64]
        var unrecorded: [String: UInt64]
    }

    /// Builds the exporters of the configuration's metrics and profiles pipelines. A
    /// `file` exporter of the metrics pipeline named but not defined, or no exporter at
    /// all, writes to `outputs.metrics` as OTLP JSON lines (standard output by default);
    /// an explicit `outputs.metrics` is always written.
    ///
    /// - Parameter hostID: the `host.id` of the profiles (the sampled host's machine id);
    ///   nil when unknown, as for a capture from another host.
    public init(configuration: CollectorConfiguration, outputs: OutputPaths, stackPathStyle: StackPathStyle = .init(),
                symbolizerOptions: SymbolizerOptions = .init(), hostID: String? = nil, logger: Logger) throws {
        self.configuration = configuration
        self.outputs = outputs
        self.stackPathStyle = stackPathStyle
        self.hostID = hostID
        // The receiver's limits, where the configuration sets them.
        var symbolizerOptions = symbolizerOptions
        let receiver = configuration.profilingReceiver
        if let value = receiver.maxProcesses { symbolizerOptions.maximumProcesses = value }
        if let value = receiver.maxMappingsPerProcess { symbolizerOptions.maximumMappingsPerProcess = value }
        if let value = receiver.maxMappings { symbolizerOptions.maximumMappings = value }
        if let value = receiver.maxKernelSymbols { symbolizerOptions.maximumKernelSymbols = value }
        if let value = receiver.maxCPythonCodeObjects { symbolizerOptions.maximumCPythonCodes = value }
        if let value = receiver.sourceLines { symbolizerOptions.sourceLines = value }
        // Only the profiles exporters carry native lines (labels, metrics and the file
        // outputs name functions): without one, no line table is read.
        if configuration.exporters(for: .profiles).isEmpty { symbolizerOptions.sourceLines = false }
        self.symbolizerOptions = symbolizerOptions
        self.logger = logger
        var exporters: [any MetricsExporter] = []
        for warning in configuration.warnings {
            logger.warning("configuration: \(warning)")
        }
        let configured = configuration.exporters(for: .metrics)
        if configuration.profilingMetrics != nil {
            for exporter in configured {
                if exporter.node == nil && exporter.id.type == "file" { continue }  // the output below
                if exporter.node == nil {
                    logger.notice("exporter `\(exporter.id)` is named in a pipeline but not defined: using its defaults")
                }
                exporters.append(try ExporterFactory.make(id: exporter.id.description, node: exporter.node,
                                                          locations: configuration.document.locations, logger: logger))
            }
        }
        var profilesExporters: [any ProfilesExporter] = []
        for exporter in configuration.exporters(for: .profiles) {
            if exporter.node == nil {
                logger.notice("exporter `\(exporter.id)` is named in the profiles pipeline but not defined: using its defaults")
            }
            profilesExporters.append(try ExporterFactory.makeProfiles(
                id: exporter.id.description, node: exporter.node, locations: configuration.document.locations,
                scopeVersion: TandemBuild.version, logger: logger))
        }
        self.profilesExporters = profilesExporters
        let fileNamedOnly = configured.contains { $0.node == nil && $0.id.type == "file" }
        if (exporters.isEmpty && profilesExporters.isEmpty) || outputs.metrics != nil || fileNamedOnly {
            let path = outputs.metrics ?? "-"
            let node = ConfigNode.mapping([ConfigEntry(key: "path", value: .scalar(path))])
            exporters.append(try ExporterFactory.make(id: "file/tandem-output", node: node, logger: logger))
        }
        self.exporters = exporters
        let profile = outputs.needsProfile ? makeProfile() : nil
        let offCPUProfile = outputs.needsOffCPUProfile ? makeProfile() : nil
        state.withLock {
            $0.profile = profile
            $0.offCPUProfile = offCPUProfile
        }
    }

    /// An empty profile within `max_profile_stacks`: the run's, and each stream's.
    func makeProfile() -> ProfileAggregate {
        ProfileAggregate(maximumDistinctStacks: configuration.profilingReceiver.maxProfileStacks
                         ?? ProfileAggregate.defaultMaximumDistinctStacks)
    }

    /// The settings of the metrics connector: the configuration's, or the
    /// connector's defaults when the configuration has none.
    var metricsSettings: ProfilingMetricsSettings {
        configuration.profilingMetrics ?? ProfilingMetricsSettings()
    }

    /// Hands `batch` to the exporters; `kernelSamples` are its `samples.kernel.count`
    /// values by classification (the connector's `takeEmittedKernelSamples()`).
    func export(_ batch: MetricsBatch, kernelSamples: [KernelStackClassification: Int64]) {
        guard !batch.isEmpty else { return }
        if outputs.report != nil, !kernelSamples.isEmpty {
            state.withLock { $0.kernelSamples.merge(kernelSamples, uniquingKeysWith: +) }
        }
        for exporter in exporters {
            exporter.export(batch)
        }
    }

    /// Hands one stream's profiles of one interval to the profiles exporters.
    func export(_ batch: ProfilesBatch) {
        guard !batch.isEmpty else { return }
        for exporter in profilesExporters {
            exporter.export(batch)
        }
    }

    /// A stream starts: its tally counts as unfinished until `merge` takes its summary.
    func openStream() -> StreamTally {
        state.withLock { shared in
            shared.streamsOpened += 1
            let tally = StreamTally(number: shared.streamsOpened)
            shared.openStreams[ObjectIdentifier(tally)] = tally
            return tally
        }
    }

    /// A sampler run reported its counters (cumulative since it started): they replace
    /// the run's earlier ones.
    func noteSamplerStatistics(run: SamplerRun, collected: UInt64, drops: [String: UInt64], unrecorded: [String: UInt64]) {
        state.withLock { $0.samplerRuns[run] = SamplerRunCounters(collected: collected, drops: drops, unrecorded: unrecorded) }
    }

    /// Adds one stream's finished profile and counters.
    func merge(tally: StreamTally, profile: ProfileAggregate?, offCPUProfile: ProfileAggregate? = nil, summary: RunSummary,
               samplesPerSecond: UInt32, firstSample: UInt64?, lastSample: UInt64?) {
        let profileDrops: (new: Int64, total: Int64, bound: Int)? = state.withLock { shared in
            shared.openStreams[ObjectIdentifier(tally)] = nil
            // The run's profile takes the stream's storage when it is still empty (the stream
            // lets go of it after this), else its cells one by one: never a copy of it all.
            var profileDrops: (Int64, Int64, Int)?
            if let profile, shared.profile != nil {
                let before = shared.profile!.droppedSamples
                shared.profile!.merge(profile)
                let after = shared.profile!.droppedSamples
                if after > before { profileDrops = (after - before, after, shared.profile!.maximumDistinctStacks) }
            }
            if let offCPUProfile, shared.offCPUProfile != nil { shared.offCPUProfile!.merge(offCPUProfile) }
            // The samplers' counters are cumulative per run, not per stream: taken from
            // `samplerRuns` (a run that reconnected would otherwise count twice).
            var summary = summary
            summary.samplerDrops = [:]
            summary.samplerUnrecorded = [:]
            summary.samplerCollected = 0
            shared.summary.merge(summary)
            shared.samplesPerSecond = max(shared.samplesPerSecond, samplesPerSecond)
            if let firstSample {
                shared.firstSampleUnixNanoseconds = min(shared.firstSampleUnixNanoseconds ?? firstSample, firstSample)
            }
            if let lastSample {
                shared.lastSampleUnixNanoseconds = max(shared.lastSampleUnixNanoseconds ?? lastSample, lastSample)
            }
            return profileDrops
        }
        if let profileDrops {
            logger.warning("receivers.profiling.max_profile_stacks (\(profileDrops.bound)) reached: \(profileDrops.new) samples of this stream were dropped from the profile outputs (folded, pprof, flame graph, report; \(profileDrops.total) in this run); they are in the metrics; raise max_profile_stacks for a profile of more distinct stacks")
        }
    }

    /// Counters over every stream finished so far, with the samples of the streams not
    /// finished (yet) in `unfinishedStreams` and `unfinishedSamples`.
    public var summary: RunSummary {
        state.withLock { shared in
            var summary = shared.summary
            summary.unfinishedStreams = shared.openStreams.count
            summary.unfinishedSamples = shared.openStreams.values.reduce(0) { $0 + $1.samples }
            for run in shared.samplerRuns.values {
                summary.samplerCollected += run.collected
                summary.samplerDrops.merge(run.drops, uniquingKeysWith: +)
                summary.samplerUnrecorded.merge(run.unrecorded, uniquingKeysWith: +)
            }
            if let profile = shared.profile {
                summary.aggregatorDrops[RunSummary.profileDropsKey] = UInt64(profile.droppedSamples)
            }
            if let offCPUProfile = shared.offCPUProfile, offCPUProfile.droppedSamples > 0 {
                summary.aggregatorDrops[RunSummary.offCPUProfileDropsKey] = UInt64(offCPUProfile.droppedSamples)
            }
            return summary
        }
    }

    /// One line for the periodic statistics log: samples received (open streams included),
    /// the samplers' latest drops by reason, and the streams open.
    public var progressDescription: String {
        let summary = self.summary
        let drops = summary.samplerDrops
        let reasons = drops.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "samples received \(summary.samples + summary.unfinishedSamples) (\(summary.unfinishedSamples) on \(summary.unfinishedStreams) open streams), "
            + "sampler drops \(drops.values.reduce(0, +))\(reasons.isEmpty ? "" : " (\(reasons))"), streams finished \(summary.streams)"
    }

    /// Stops the exporters (delivering what they hold until `deadline`) and
    /// writes the profile outputs. Returns the exporters' final counters, by id; those
    /// of a profiles pipeline's exporters by `<id> (profiles)`.
    @discardableResult
    public func shutdown(deadline: ContinuousClock.Instant = .now + .seconds(10)) throws -> [String: ExporterStatistics] {
        var statistics: [String: ExporterStatistics] = [:]
        for exporter in exporters {
            exporter.shutdown(deadline: deadline)
            statistics[exporter.id] = exporter.statistics
        }
        for exporter in profilesExporters {
            exporter.shutdown(deadline: deadline)
            statistics["\(exporter.id) (profiles)"] = exporter.statistics
        }
        let (profile, offCPUProfile, kernelSamples, first, last, frequency) = state.withLock {
            ($0.profile, $0.offCPUProfile, $0.kernelSamples, $0.firstSampleUnixNanoseconds, $0.lastSampleUnixNanoseconds,
             $0.samplesPerSecond)
        }
        let hostNames = summary.hostNames.sorted().joined(separator: ", ")
        let start = first ?? 0
        let comments = ["tandem profile of \(hostNames)"]
        if let offCPUProfile {
            if let path = outputs.offCPUFolded {
                try FoldedStacksWriter(style: stackPathStyle).write(offCPUProfile, toFile: path)
            }
            if let path = outputs.offCPUPprof {
                let writer = PprofWriter(samplesPerSecond: max(1, frequency), sampleTypes: PprofSampleType.offCPUProfile,
                                         periodType: .offCPU, period: 1, startTimeUnixNano: Int64(clamping: start),
                                         durationNanos: Int64(clamping: (last ?? start) - start), comments: comments)
                try writer.write(offCPUProfile, toFile: path)
            }
            if let path = outputs.offCPUFlameGraph {
                let graph = FlameGraphSVG(title: "tandem: off-CPU flame graph (time threads waited)",
                                          subtitle: "\(hostNames), \(offCPUProfile.totalEvents) waits",
                                          style: stackPathStyle, unit: .nanoseconds)
                try graph.write(offCPUProfile, toFile: path)
            }
        }
        guard let profile else { return statistics }
        if let path = outputs.folded {
            try FoldedStacksWriter(style: stackPathStyle).write(profile, toFile: path)
        }
        if let path = outputs.pprof {
            let writer = PprofWriter(samplesPerSecond: max(1, frequency), startTimeUnixNano: Int64(clamping: start),
                                     durationNanos: Int64(clamping: (last ?? start) - start), comments: comments)
            try writer.write(profile, toFile: path)
        }
        if let path = outputs.flameGraph {
            let graph = FlameGraphSVG(title: "tandem: on-CPU flame graph",
                                      subtitle: "\(hostNames), sampled at \(frequency) Hz", style: stackPathStyle)
            try graph.write(profile, toFile: path)
        }
        if let path = outputs.report {
            var text = TextReport().render(profile, kernelSamples: kernelSamples, offCPU: offCPUProfile)
            text += "\n" + summary.description + "\n"
            try writeText(text, to: path)
        }
        return statistics
    }
}
