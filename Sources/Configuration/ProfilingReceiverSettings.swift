import Foundation
import SamplingRateReader
import WireFormat

/// The settings of the `profiling` receiver (`receivers.profiling`): the
/// upstream receiver's keys, all accepted and validated, plus tandem's own
/// keys for the aggregator's socket.
///
/// What tandem does with each upstream key is listed in `keyUsage`; keys
/// tandem ignores are still checked so that a configuration written for the
/// EDOT Collector is either accepted as it stands or refused with a reason.
public struct ProfilingReceiverSettings: Hashable, Sendable {
    /// Sampling frequency per CPU (`samples_per_second`, or the older
    /// `SamplesPerSecond`). tandem's default is 19 Hz (upstream's is 20).
    public var samplesPerSecond: Int = SamplingRate.defaultSamplesPerSecond
    /// The share (0...1) of switches off the CPU the sampler records, with the stacks the
    /// thread waited in and for how long; 0 = off. Read by the sampler too
    /// (`SamplingRateReader`), whose plain-decimal spelling is the only one accepted here.
    public var offCPUThreshold: Double = 0
    /// Percentage (0...100) of probabilistic-profiling intervals that sample; 100 = always. Ignored.
    public var probabilisticThreshold: Int = 100
    /// Length of a probabilistic-profiling interval. Ignored.
    public var probabilisticInterval: Duration = .seconds(60)
    /// How often the upstream receiver reports a batch. tandem uses it as the
    /// window of the `profilingmetrics` connector when `flush_interval` is `0s`
    /// ("emit per batch").
    public var reporterInterval: Duration = .seconds(5)
    /// Which interpreters to unwind (`all`, or a comma-separated list, upstream's names):
    /// tandem walks CPython frames when it names `python`, Perl frames when it names `perl`,
    /// Ruby frames when it names `ruby`, PHP frames when it names `php`, JavaScript frames when
    /// it names `v8`, Erlang frames when it names `beam` (all of them for `all`); native and kernel frames are always unwound. The
    /// sampler's `--no-interpreter-frames` turns the walk off on the
    /// privileged side whatever this says.
    public var tracers: String = "all"

    /// Whether `tracers` asks for Python frames.
    public var walksPython: Bool { tracersName("python") }
    /// Whether `tracers` asks for Perl frames.
    public var walksPerl: Bool { tracersName("perl") }

    /// Whether `tracers` asks for Ruby frames.
    public var walksRuby: Bool { tracersName("ruby") }
    /// Whether `tracers` asks for JavaScript (V8) frames.
    public var walksV8: Bool { tracersName("v8") }

    /// Whether `tracers` asks for PHP frames.
    public var walksPHP: Bool { tracersName("php") }
    /// Whether `tracers` asks for Erlang (BEAM) frames.
    public var walksBEAM: Bool { tracersName("beam") }

    /// Whether `tracers` is `all` or lists `tracer`.
    private func tracersName(_ tracer: String) -> Bool {
        tracers.split(separator: ",").contains { ["all", tracer].contains($0.trimmingCharacters(in: .whitespaces)) }
    }
    /// Whether `tracers` asks for JVM frames (upstream's tracer name: `hotspot`).
    public var walksHotSpot: Bool {
        tracers.split(separator: ",").contains { ["all", "hotspot"].contains($0.trimmingCharacters(in: .whitespaces)) }
    }
    /// Upstream sends frames for unwinding errors. Ignored (tandem counts errors instead).
    public var sendErrorFrames: Bool = false
    /// Upstream sends samples of idle CPUs. Exposed for the aggregator to apply.
    public var sendIdleFrames: Bool = false
    /// tandem: path of the Unix socket the aggregator listens on.
    public var endpoint: String = "/run/tandem/tandem.sock"
    /// tandem: the user ids whose sampler may connect (checked with `SO_PEERCRED`).
    public var allowedUIDs: [UInt32] = [0]
    /// tandem: how many sampler connections the aggregator serves at once (one thread
    /// each); more are refused and closed. A host normally runs one sampler, and a
    /// restarted one may overlap its predecessor for a moment.
    public var maxConnections: Int = 16

    /// The bounds of `max_connections`.
    public static let maxConnectionsRange = 1...1024

    /// tandem: bounds on what one stream may make the aggregator hold (nil: the
    /// aggregator's defaults, see `SymbolizerOptions`). Past them records are dropped
    /// and counted.
    public var maxProcesses: Int?
    public var maxMappingsPerProcess: Int?
    public var maxMappings: Int?
    public var maxKernelSymbols: Int?
    public var maxCPythonCodeObjects: Int?
    /// tandem: distinct (process, thread, stack) cells of the profile behind the file
    /// outputs, over the whole run (nil: `ProfileAggregate.defaultMaximumDistinctStacks`).
    public var maxProfileStacks: Int?
    /// tandem: give native and Go frames their source file and line from the files' line
    /// tables (DWARF `.debug_line`, `.gopclntab`) for the profiles exporters (nil: on).
    public var sourceLines: Bool?

    public init() {}

    /// Every key `receivers.profiling` accepts.
    public static let keys: [String] = [
        "samples_per_second", "SamplesPerSecond", "off_cpu_threshold", "probabilistic_threshold",
        "probabilistic_interval", "reporter_interval", "tracers", "send_error_frames", "send_idle_frames",
        "endpoint", "allowed_uids", "max_connections", "max_processes", "max_mappings_per_process", "max_mappings",
        "max_kernel_symbols", "max_cpython_code_objects", "max_profile_stacks", "source_lines",
    ]

    /// What tandem does with each key, for documentation and `--check-config` output.
    public static let keyUsage: [(key: String, usage: String)] = [
        ("samples_per_second", "used: the sampler's frequency per CPU (\(SamplingRate.range.lowerBound)...\(SamplingRate.range.upperBound), default \(SamplingRate.defaultSamplesPerSecond))"),
        ("SamplesPerSecond", "used: older spelling of samples_per_second"),
        ("off_cpu_threshold", "used by the sampler: the share (0 to 1, plain decimal) of switches off the CPU recorded with their stacks and time away; 0 = off (default)"),
        ("probabilistic_threshold", "accepted, ignored: tandem samples continuously"),
        ("probabilistic_interval", "accepted, ignored: tandem samples continuously"),
        ("reporter_interval", "used: the metrics window when profilingmetrics.flush_interval is 0s"),
        ("tracers", "interpreters to unwind: `all` or a list; tandem walks CPython frames when it names python, Perl frames when it names perl, Ruby frames when it names ruby, V8 (Node) frames when it names v8, native and kernel frames always"),
        ("send_error_frames", "accepted, ignored: unwinding errors are counted, not sent as frames"),
        ("send_idle_frames", "exposed to the aggregator (idle-CPU samples)"),
        ("endpoint", "tandem: the aggregator's Unix socket path"),
        ("allowed_uids", "tandem: user ids allowed to connect as the sampler"),
        ("max_connections", "tandem: sampler connections served at once (1...1024, default 16); more are refused"),
        ("max_processes", "tandem: processes described at once per stream (default 65536)"),
        ("max_mappings_per_process", "tandem: executable mappings kept per process (default 16384)"),
        ("max_mappings", "tandem: executable mappings kept per stream (default 524288)"),
        ("max_kernel_symbols", "tandem: kernel symbols kept per stream (default 524288)"),
        ("max_cpython_code_objects", "tandem: CPython code objects kept per stream, with 1 KiB of names and line tables each on average (default 65536)"),
        ("max_profile_stacks", "tandem: distinct (process, thread, stack) cells of the file outputs' profile per run (default 262144)"),
        ("source_lines", "tandem: source file and line of native and Go frames from .debug_line / .gopclntab, for the profiles exporters (default true; read only when a profiles exporter is configured)"),
    ]

    /// The range each per-stream `max_*` bound accepts: at least 1, at most 2^26 (beyond that a
    /// bound no longer protects the aggregator's memory).
    public static let limitRange = 1...(1 << 26)

    /// Tracer names the upstream receiver knows, for validating `tracers`.
    public static let tracerNames: [String] = [
        "all", "native", "perl", "php", "python", "hotspot", "ruby", "v8", "dotnet", "go", "labels", "beam", "luajit",
    ]

    /// Longest Unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
    static let maximumSocketPathBytes = 107

    /// Reads `receivers.profiling` (or `receivers.profiling/<name>`) at `path`.
    public init(node: ConfigNode?, path: String, locations: [String: ConfigLocation] = [:]) throws {
        let reader = try ConfigMappingReader(node, path: path, locations: locations)
        // Not the rate's case: the untagged older field took a whole percentage.
        if reader.has("OffCPUThreshold") {
            throw reader.error(at: reader.childPath("OffCPUThreshold"), "is the older receivers' whole percentage, not read",
                               fix: "write the share from 0 to 1 as `off_cpu_threshold: 0.01`")
        }
        try reader.requireOnlyKeys(Self.keys)

        let newer = try reader.integer("samples_per_second", in: SamplingRate.range)
        let older = try reader.integer("SamplesPerSecond", in: SamplingRate.range)
        if let newer, let older, newer != older {
            throw reader.error(at: reader.childPath("SamplesPerSecond"),
                               "`SamplesPerSecond: \(older)` contradicts `samples_per_second: \(newer)`",
                               fix: "keep only `samples_per_second`")
        }
        if let value = newer ?? older { samplesPerSecond = value }

        if let text = try reader.string("off_cpu_threshold") {
            do {
                offCPUThreshold = try SamplingRateReader.offCPUThreshold(plain: text.utf8)
            } catch {
                throw reader.error(at: reader.childPath("off_cpu_threshold"), error.reason, fix: error.fix)
            }
        }
        if let value = try reader.integer("probabilistic_threshold", in: 0...100) { probabilisticThreshold = value }
        if let value = try reader.duration("probabilistic_interval") {
            guard value > .zero else {
                throw reader.error(at: reader.childPath("probabilistic_interval"), "must be longer than 0s",
                                   fix: "write a duration such as `1m`")
            }
            probabilisticInterval = value
        }
        if let value = try reader.duration("reporter_interval") {
            guard value > .zero else {
                throw reader.error(at: reader.childPath("reporter_interval"), "must be longer than 0s",
                                   fix: "write a duration such as `5s`")
            }
            reporterInterval = value
        }
        if let value = try reader.string("tracers") {
            for token in value.split(separator: ",", omittingEmptySubsequences: false) {
                let name = token.trimmingCharacters(in: .whitespaces)
                guard Self.tracerNames.contains(name) else {
                    throw reader.error(at: reader.childPath("tracers"), "unknown tracer `\(name)`",
                                       fix: KeySuggestion.fix(for: name, candidates: Self.tracerNames, noun: "tracers"))
                }
            }
            tracers = value
        }
        if let value = try reader.bool("send_error_frames") { sendErrorFrames = value }
        if let value = try reader.bool("send_idle_frames") { sendIdleFrames = value }
        if let value = try reader.string("endpoint") {
            guard value.hasPrefix("/") else {
                throw reader.error(at: reader.childPath("endpoint"), "`\(value)` is not an absolute path",
                                   fix: "write the socket's absolute path, e.g. `/run/tandem/tandem.sock`")
            }
            guard value.utf8.count <= Self.maximumSocketPathBytes else {
                throw reader.error(at: reader.childPath("endpoint"),
                                   "socket path is \(value.utf8.count) bytes; Unix sockets allow \(Self.maximumSocketPathBytes)",
                                   fix: "choose a shorter path")
            }
            endpoint = value
        }
        maxProcesses = try reader.integer("max_processes", in: Self.limitRange)
        maxMappingsPerProcess = try reader.integer("max_mappings_per_process", in: Self.limitRange)
        maxMappings = try reader.integer("max_mappings", in: Self.limitRange)
        maxKernelSymbols = try reader.integer("max_kernel_symbols", in: Self.limitRange)
        maxCPythonCodeObjects = try reader.integer("max_cpython_code_objects", in: Self.limitRange)
        maxProfileStacks = try reader.integer("max_profile_stacks", in: Self.limitRange)
        sourceLines = try reader.bool("source_lines")
        if reader.has("allowed_uids") {
            let texts = try reader.stringList("allowed_uids") ?? []
            guard !texts.isEmpty else {
                throw reader.error(at: reader.childPath("allowed_uids"), "is empty: no sampler could connect",
                                   fix: "list at least one user id, e.g. `[0]`")
            }
            allowedUIDs = try texts.enumerated().map { index, text in
                guard let uid = UInt32(text), uid != UInt32.max else {
                    throw reader.error(at: "\(reader.childPath("allowed_uids"))[\(index)]",
                                       "`\(text)` is not a user id", fix: "write a number from 0 to 4294967294")
                }
                return uid
            }
        }
        if let value = try reader.integer("max_connections", in: Self.maxConnectionsRange) { maxConnections = value }
    }
}
