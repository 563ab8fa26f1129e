import Profiles

/// A metric of the `profilingmetrics` connector; the raw value is its name.
public enum ProfilingMetric: String, Hashable, Sendable, CaseIterable {
    case user = "samples.user.count"
    case kernel = "samples.kernel.count"
    case native = "samples.native.count"
    case go = "samples.go.count"
    case jvm = "samples.jvm.count"
    case cpython = "samples.cpython.count"
    case dotnet = "samples.dotnet.count"
    case ruby = "samples.ruby.count"
    case php = "samples.php.count"
    case perl = "samples.perl.count"
    case v8js = "samples.v8js.count"
    case rust = "samples.rust.count"
    case beam = "samples.beam.count"
    case frameType = "samples.frame_type"
    case classification = "samples.classification"
    case customAggregation = "samples.custom_aggregation"

    /// The delta sums counted by the leaf frame (`samples.*.count`).
    public var isCount: Bool {
        switch self {
        case .frameType, .classification, .customAggregation: return false
        default: return true
        }
    }

    /// The per-runtime count for a leaf frame of `type` (`samples.kernel.count` for kernel frames).
    public static func count(for type: FrameType) -> ProfilingMetric {
        switch type {
        case .native: return .native
        case .kernel: return .kernel
        case .jvm: return .jvm
        case .cpython: return .cpython
        case .go: return .go
        case .v8js: return .v8js
        case .php: return .php
        case .perl: return .perl
        case .ruby: return .ruby
        case .dotnet: return .dotnet
        case .rust: return .rust
        case .beam: return .beam
        }
    }
}

/// One `aggregations` entry: frames whose function name matches `match` (a
/// regular expression, searched anywhere in the name) count towards `label`.
public struct CustomAggregation: Hashable, Sendable {
    public var match: String
    public var label: String

    public init(match: String, label: String) {
        self.match = match
        self.label = label
    }

    /// `match` compiled. The expressions are written for Go's RE2 (the
    /// upstream connector's engine); the one RE2 spelling Swift's `Regex`
    /// refuses, a one-letter Unicode class `\pL` / `\PL`, is rewritten to `\p{L}`.
    public func regex() throws -> Regex<AnyRegexOutput> {
        try Regex(Self.swiftPattern(fromRE2: match))
    }

    /// Rewrites RE2's `\pX` / `\PX` (no braces) to `\p{X}` / `\P{X}`; everything else is kept.
    static func swiftPattern(fromRE2 pattern: String) -> String {
        guard pattern.contains("\\p") || pattern.contains("\\P") else { return pattern }
        var result = ""
        var characters = pattern.makeIterator()
        while let c = characters.next() {
            guard c == "\\", let next = characters.next() else {
                result.append(c)
                continue
            }
            if next == "p" || next == "P", let name = characters.next() {
                if name == "{" || !name.isLetter {
                    result += "\\\(next)\(name)"
                } else {
                    result += "\\\(next){\(name)}"
                }
            } else {
                result += "\\\(next)"
            }
        }
        return result
    }
}

/// The settings of the `profilingmetrics` connector, from either generation of
/// its configuration.
///
/// How the two generations combine (each metric decided on its own):
///
/// 1. `metrics.<name>.enabled`, when written, decides. If an older flag that
///    governs the same metric is also written with the opposite value, the
///    configuration is refused (they contradict).
/// 2. Otherwise the older flag that governs the metric decides, when written:
///    `by_frame` governs every `samples.*.count` sum (user, kernel, native and
///    per-runtime); `by_frametype` governs `samples.frame_type`;
///    `by_classification` governs `samples.classification`.
/// 3. Otherwise, if the document is of the older generation (it writes at
///    least one of `by_frame`, `by_frametype`, `by_classification`), the metric
///    is off: the older connector's flags all default to false.
/// 4. Otherwise the newer connector's defaults apply: every `samples.*.count`
///    sum on, `samples.frame_type` and `samples.classification` off.
///
/// `samples.custom_aggregation` has no older flag: it is on when `aggregations`
/// is not empty, unless `metrics.samples.custom_aggregation.enabled: false`.
///
/// `flush_interval` defaults to 30s (newer connector), except in an
/// older-generation document that does not write it, where it is 0s: the
/// older connector emitted once per received batch. 0s means "per batch",
/// which tandem implements as windows of the receiver's `reporter_interval`.
public struct ProfilingMetricsSettings: Hashable, Sendable {
    /// Which generation of keys the document used.
    public enum Generation: String, Hashable, Sendable {
        /// No key at all: the newer connector's defaults.
        case defaults
        /// Only `by_frame` / `by_frametype` / `by_classification`.
        case older
        /// Only `flush_interval` / `metrics` / `aggregations`.
        case newer
        /// Keys of both generations.
        case mixed
    }

    public var generation: Generation = .defaults
    /// The aggregation window in stream time; `.zero` = once per batch.
    public var flushInterval: Duration = .seconds(30)
    /// The metrics to emit.
    public var enabledMetrics: Set<ProfilingMetric> = Set(ProfilingMetric.allCases.filter(\.isCount))
    /// The custom aggregations, in document order.
    public var aggregations: [CustomAggregation] = []
    /// The older flags as written (`nil` = not written).
    public var byFrame: Bool?
    public var byFrameType: Bool?
    public var byClassification: Bool?
    /// tandem: most processes (resources) the connector holds in its open windows;
    /// samples of further processes are dropped and counted (`max_processes_per_window`).
    /// Far above a large host's processes per window, so that only a flood reaches it.
    public var maxProcessesPerWindow = 1 << 16

    public init() {}

    public func isEnabled(_ metric: ProfilingMetric) -> Bool { enabledMetrics.contains(metric) }

    /// Every key `connectors.profilingmetrics` accepts.
    public static let keys = ["by_frame", "by_frametype", "by_classification", "flush_interval", "metrics", "aggregations",
                              "max_processes_per_window"]
    static let olderKeys: Set<String> = ["by_frame", "by_frametype", "by_classification"]
    static let newerKeys: Set<String> = ["flush_interval", "metrics", "aggregations"]

    /// Advice about settings that are valid but probably not meant (for logging).
    public var warnings: [String] {
        var result: [String] = []
        if isEnabled(.user) != isEnabled(.kernel) {
            result.append("only one of samples.user.count and samples.kernel.count is enabled: "
                          + "their sum is the total sample count, enable both")
        }
        return result
    }

    /// Reads `connectors.profilingmetrics` (or `profilingmetrics/<name>`) at `path`.
    public init(node: ConfigNode?, path: String, locations: [String: ConfigLocation] = [:]) throws {
        let reader = try ConfigMappingReader(node, path: path, locations: locations)
        try reader.requireOnlyKeys(Self.keys)

        let writesOlder = reader.keys.contains { Self.olderKeys.contains($0) }
        let writesNewer = reader.keys.contains { Self.newerKeys.contains($0) }
        switch (writesOlder, writesNewer) {
        case (false, false): generation = .defaults
        case (true, false): generation = .older
        case (false, true): generation = .newer
        case (true, true): generation = .mixed
        }

        byFrame = try reader.bool("by_frame")
        byFrameType = try reader.bool("by_frametype")
        byClassification = try reader.bool("by_classification")

        if let value = try reader.integer("max_processes_per_window", in: 1...(1 << 26)) { maxProcessesPerWindow = value }

        if let interval = try reader.duration("flush_interval") {
            flushInterval = interval
        } else if generation == .older {
            flushInterval = .zero
        }

        // metrics: { <name>: { enabled: bool } }
        var explicit: [ProfilingMetric: Bool] = [:]
        let metricsReader = try reader.mapping("metrics")
        let metricNames = ProfilingMetric.allCases.map(\.rawValue)
        try metricsReader.requireOnlyKeys(metricNames, noun: "metric names")
        for name in metricsReader.keys {
            let metric = ProfilingMetric(rawValue: name)!
            let entry = try metricsReader.mapping(name)
            try entry.requireOnlyKeys(["enabled"])
            if let enabled = try entry.bool("enabled") { explicit[metric] = enabled }
        }

        // aggregations: [ { match: regex, label: string } ]
        let aggregationsPath = reader.childPath("aggregations")
        switch reader["aggregations"] {
        case nil, .null?:
            break
        case .sequence(let items)?:
            for (index, item) in items.enumerated() {
                let itemPath = "\(aggregationsPath)[\(index)]"
                let entry = try ConfigMappingReader(item, path: itemPath, locations: locations)
                try entry.requireOnlyKeys(["match", "label"])
                for key in ["match", "label"] where try (entry.string(key) ?? "").isEmpty {
                    throw entry.error(at: entry.has(key) ? entry.childPath(key) : itemPath,
                                      "aggregation \(index) has no `\(key)`; both `match` and `label` are required",
                                      fix: "write `- match: \"<regular expression>\"` and `label: <name>`")
                }
                let match = try entry.string("match")!
                let label = try entry.string("label")!
                do {
                    _ = try CustomAggregation(match: match, label: label).regex()
                } catch {
                    throw entry.error(at: entry.childPath("match"),
                                      "the regular expression `\(match)` of aggregation `\(label)` does not compile: \(error)",
                                      fix: "correct the expression (escape `.`, `(`, `[` with `\\\\` inside double quotes)")
                }
                aggregations.append(CustomAggregation(match: match, label: label))
            }
        case let other?:
            throw reader.error(at: aggregationsPath, "must be a list, not \(ConfigMappingReader.describe(other))",
                               fix: "write `aggregations: [ { match: \"^malloc$\", label: allocator } ]`")
        }

        // Combine the generations (see the type's documentation).
        func olderFlag(for metric: ProfilingMetric) -> (key: String, value: Bool?)? {
            switch metric {
            case .frameType: return ("by_frametype", byFrameType)
            case .classification: return ("by_classification", byClassification)
            case .customAggregation: return nil
            default: return ("by_frame", byFrame)
            }
        }
        var enabled: Set<ProfilingMetric> = []
        for metric in ProfilingMetric.allCases {
            let flag = olderFlag(for: metric)
            let on: Bool
            if let value = explicit[metric] {
                if let flag, let flagValue = flag.value, flagValue != value {
                    throw reader.error(at: metricsReader.childPath(metric.rawValue) + ".enabled",
                                       "`enabled: \(value)` contradicts `\(flag.key): \(flagValue)`",
                                       fix: "remove `\(flag.key)` (older spelling) or make both agree")
                }
                on = value
            } else if let flag, let flagValue = flag.value {
                on = flagValue
            } else if metric == .customAggregation {
                on = !aggregations.isEmpty
            } else if writesOlder {
                on = false
            } else {
                on = metric.isCount
            }
            if on { enabled.insert(metric) }
        }
        enabledMetrics = enabled
    }
}
