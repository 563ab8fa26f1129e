import Foundation

/// The component types tandem can run, by kind. Components of other types are
/// refused with the closest known type as a suggestion.
public struct ComponentCatalog: Hashable, Sendable {
    public var receiverTypes: [String]
    public var processorTypes: [String]
    public var connectorTypes: [String]
    /// Exporter types; one of these may be named in a pipeline without being
    /// defined under `exporters:` (it then runs with its defaults).
    public var exporterTypes: [String]
    /// Extension types; `nil` accepts any (tandem runs no extension).
    public var extensionTypes: [String]?
    /// The signals each exporter type takes; a type missing here takes every signal.
    public var exporterSignals: [String: Set<PipelineSignal>]
    /// Signals an exporter type is accepted for but cannot deliver yet, with the reason:
    /// the configuration stays valid (it is the documented one) and says so in a warning;
    /// the runtime counts what it would have sent as dropped.
    public var exporterSignalsNotYetBuilt: [String: [PipelineSignal: String]]

    public init(receiverTypes: [String], processorTypes: [String], connectorTypes: [String],
                exporterTypes: [String], extensionTypes: [String]? = nil,
                exporterSignals: [String: Set<PipelineSignal>] = [:],
                exporterSignalsNotYetBuilt: [String: [PipelineSignal: String]] = [:]) {
        self.receiverTypes = receiverTypes
        self.processorTypes = processorTypes
        self.connectorTypes = connectorTypes
        self.exporterTypes = exporterTypes
        self.extensionTypes = extensionTypes
        self.exporterSignals = exporterSignals
        self.exporterSignalsNotYetBuilt = exporterSignalsNotYetBuilt
    }

    /// The exporter types that take `signal`.
    public func exporterTypes(for signal: PipelineSignal) -> [String] {
        exporterTypes.filter { exporterSignals[$0]?.contains(signal) ?? true }
    }

    /// What tandem implements. The exporter list belongs to the exporter layer,
    /// which may pass its own catalog.
    public static let tandem = ComponentCatalog(
        receiverTypes: ["profiling"],
        processorTypes: [],
        connectorTypes: ["profilingmetrics"],
        exporterTypes: ["elasticsearch", "otlphttp", "otlp", "prometheusremotewrite", "file"],
        exporterSignals: [
            "elasticsearch": [.metrics, .profiles],
            "otlphttp": [.metrics, .profiles],
            "otlp": [.metrics, .profiles],
            "prometheusremotewrite": [.metrics],
            "file": [.metrics, .profiles],
        ])
}

/// A kind of collector component; the raw value is its top-level section.
public enum ComponentKind: String, Hashable, Sendable, CaseIterable {
    case receiver = "receivers"
    case processor = "processors"
    case connector = "connectors"
    case exporter = "exporters"
    case `extension` = "extensions"

    var singular: String {
        switch self {
        case .receiver: return "receiver"
        case .processor: return "processor"
        case .connector: return "connector"
        case .exporter: return "exporter"
        case .extension: return "extension"
        }
    }
}

/// One component as the configuration defines (or only names) it.
public struct ComponentConfig: Hashable, Sendable {
    public var kind: ComponentKind
    public var id: ComponentID
    /// Its settings as written; `nil` when the component is named in a
    /// pipeline but not defined (exporters only), `.null` when defined empty.
    public var node: ConfigNode?
    /// Dotted path of its settings, e.g. `exporters.elasticsearch`.
    public var path: String

    public init(kind: ComponentKind, id: ComponentID, node: ConfigNode?, path: String) {
        self.kind = kind
        self.id = id
        self.node = node
        self.path = path
    }
}

/// The signal a pipeline carries.
public enum PipelineSignal: String, Hashable, Sendable, CaseIterable {
    case traces, metrics, logs, profiles
}

/// One `service.pipelines` entry.
public struct Pipeline: Hashable, Sendable {
    public var id: ComponentID
    public var signal: PipelineSignal
    public var receivers: [ComponentID]
    public var processors: [ComponentID]
    public var exporters: [ComponentID]
}

/// A configuration in the OpenTelemetry Collector's shape, validated against
/// what tandem runs.
///
/// Rules: only the sections `receivers`, `processors`, `connectors`,
/// `exporters`, `extensions` and `service` may appear; component ids are
/// `type[/name]` with a type from the `ComponentCatalog`; the keys of the
/// components tandem interprets (`profiling`, `profilingmetrics`) are checked;
/// every pipeline names at least one receiver and one exporter, each of them
/// defined (a connector counts as both), except that an exporter of a known
/// type may be named without a definition (listed in
/// `undefinedButReferencedExporters`; the exporter layer uses its defaults);
/// a connector used on one side of a pipeline must be used on the other side
/// of another; `profiling` feeds only `profiles` pipelines and
/// `profilingmetrics` turns a `profiles` pipeline into a `metrics` one; at
/// most one of each is used.
public struct CollectorConfiguration: Sendable {
    public var document: ConfigDocument
    public var receivers: [ComponentConfig] = []
    public var processors: [ComponentConfig] = []
    public var connectors: [ComponentConfig] = []
    /// Exporters defined under `exporters:`, then those only named in pipelines.
    public var exporters: [ComponentConfig] = []
    public var extensions: [ComponentConfig] = []
    public var pipelines: [Pipeline] = []
    /// `service.extensions`.
    public var serviceExtensions: [ComponentID] = []
    /// `service.telemetry` as written (tolerated, not interpreted).
    public var telemetry: ConfigNode?
    /// Exporters named in a pipeline but not defined: they run with their defaults.
    public var undefinedButReferencedExporters: [ComponentID] = []
    /// The `profiling` receiver the pipelines use, if any.
    public var profilingReceiverID: ComponentID?
    /// Its settings (the defaults when no pipeline uses one).
    public var profilingReceiver = ProfilingReceiverSettings()
    /// The `profilingmetrics` connector the pipelines use, if any.
    public var profilingMetricsID: ComponentID?
    /// Its settings; `nil` when no pipeline uses the connector.
    public var profilingMetrics: ProfilingMetricsSettings?
    /// Valid but doubtful things worth a log line.
    public var warnings: [String] = []

    /// The window of the metrics connector in stream time: `flush_interval`,
    /// or the receiver's `reporter_interval` when `flush_interval` is 0s.
    public var metricsWindow: Duration {
        guard let interval = profilingMetrics?.flushInterval, interval > .zero else {
            return profilingReceiver.reporterInterval
        }
        return interval
    }

    /// The exporters (with raw settings) fed by pipelines of `signal`, in first-use order.
    public func exporters(for signal: PipelineSignal) -> [ComponentConfig] {
        var seen: Set<ComponentID> = []
        var result: [ComponentConfig] = []
        for pipeline in pipelines where pipeline.signal == signal {
            for id in pipeline.exporters where seen.insert(id).inserted {
                if let exporter = exporters.first(where: { $0.id == id }) { result.append(exporter) }
            }
        }
        return result
    }

    /// The exporter with `id`, defined or only named.
    public func exporter(_ id: ComponentID) -> ComponentConfig? {
        exporters.first { $0.id == id }
    }

    /// Parses and validates YAML text; `environment` feeds `${env:NAME}` references.
    public init(yaml: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                catalog: ComponentCatalog = .tandem) throws {
        try self.init(document: ConfigDocument(yaml: yaml, environment: environment), catalog: catalog)
    }

    /// Reads, parses and validates the file at `path`.
    public init(contentsOfFile path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                catalog: ComponentCatalog = .tandem) throws {
        try self.init(document: ConfigDocument(contentsOfFile: path, environment: environment), catalog: catalog)
    }

    public init(document: ConfigDocument, catalog: ComponentCatalog = .tandem) throws {
        self.document = document
        warnings = document.warnings
        let locations = document.locations
        if case .null = document.root {
            throw ConfigurationError(path: "", problem: "the configuration is empty",
                                     fix: "define at least `service.pipelines`")
        }
        let root = try ConfigMappingReader(document.root, path: "", locations: locations)
        try root.requireOnlyKeys(ComponentKind.allCases.map(\.rawValue) + ["service"], noun: "sections")

        // Components.
        var profilingReceivers: [ComponentID: ProfilingReceiverSettings] = [:]
        var profilingMetricsConnectors: [ComponentID: ProfilingMetricsSettings] = [:]
        for kind in ComponentKind.allCases {
            let section = try root.mapping(kind.rawValue)
            let knownTypes: [String]?
            switch kind {
            case .receiver: knownTypes = catalog.receiverTypes
            case .processor: knownTypes = catalog.processorTypes
            case .connector: knownTypes = catalog.connectorTypes
            case .exporter: knownTypes = catalog.exporterTypes
            case .extension: knownTypes = catalog.extensionTypes
            }
            var components: [ComponentConfig] = []
            for entry in section.entries {
                let path = section.childPath(entry.key)
                guard let id = ComponentID(parsing: entry.key) else {
                    throw section.error(at: path, "`\(entry.key)` is not a component id",
                                        fix: "write `type` or `type/name`, e.g. `\(knownTypes?.first ?? "type")/main`")
                }
                if let knownTypes, !knownTypes.contains(id.type) {
                    let fix: String
                    if let close = KeySuggestion.closest(to: id.type, in: knownTypes) {
                        fix = "did you mean `\(close)`?"
                    } else if knownTypes.isEmpty {
                        fix = "remove it (tandem runs no \(kind.rawValue))"
                    } else {
                        fix = "tandem's \(kind.rawValue): " + knownTypes.map { "`\($0)`" }.joined(separator: ", ")
                    }
                    throw section.error(at: path, "tandem has no \(kind.singular) of type `\(id.type)`", fix: fix)
                }
                switch (kind, id.type) {
                case (.receiver, "profiling"):
                    profilingReceivers[id] = try ProfilingReceiverSettings(node: entry.value, path: path, locations: locations)
                case (.connector, "profilingmetrics"):
                    profilingMetricsConnectors[id] = try ProfilingMetricsSettings(node: entry.value, path: path,
                                                                                  locations: locations)
                default:
                    break
                }
                components.append(ComponentConfig(kind: kind, id: id, node: entry.value, path: path))
            }
            switch kind {
            case .receiver: receivers = components
            case .processor: processors = components
            case .connector: connectors = components
            case .exporter: exporters = components
            case .extension: extensions = components
            }
        }

        // Service.
        let service = try root.mapping("service")
        guard root.has("service") else {
            throw root.error(at: "service", "there is no `service` section, so nothing runs",
                             fix: "add `service: { pipelines: { ... } }`")
        }
        try service.requireOnlyKeys(["pipelines", "telemetry", "extensions"])
        telemetry = service["telemetry"]
        for (index, text) in (try service.stringList("extensions") ?? []).enumerated() {
            let path = "\(service.childPath("extensions"))[\(index)]"
            guard let id = ComponentID(parsing: text), extensions.contains(where: { $0.id == id }) else {
                throw service.error(at: path, "extension `\(text)` is not defined under `extensions`",
                                    fix: KeySuggestion.fix(for: text, candidates: extensions.map(\.id.description),
                                                           noun: "extensions"))
            }
            serviceExtensions.append(id)
        }

        let pipelinesReader = try service.mapping("pipelines")
        guard !pipelinesReader.entries.isEmpty else {
            throw service.error(at: service.childPath("pipelines"), "no pipeline is defined, so nothing runs",
                                fix: "add e.g. `metrics: { receivers: [profilingmetrics], exporters: [elasticsearch] }`")
        }
        let signals = PipelineSignal.allCases.map(\.rawValue)
        var namedOnlyExporters: [ComponentID] = []
        for entry in pipelinesReader.entries {
            let path = pipelinesReader.childPath(entry.key)
            guard let id = ComponentID(parsing: entry.key), let signal = PipelineSignal(rawValue: id.type) else {
                let type = entry.key.split(separator: "/").first.map(String.init) ?? entry.key
                throw pipelinesReader.error(at: path, "`\(entry.key)` is not a pipeline id",
                                            fix: KeySuggestion.fix(for: type, candidates: signals, noun: "pipeline types")
                                                + " (write `<type>` or `<type>/<name>`)")
            }
            let reader = try ConfigMappingReader(entry.value, path: path, locations: locations)
            try reader.requireOnlyKeys(["receivers", "processors", "exporters"])

            func references(_ key: String, required: Bool) throws -> [ComponentID] {
                let texts = try reader.stringList(key) ?? []
                if required, texts.isEmpty {
                    throw reader.error(at: reader.has(key) ? reader.childPath(key) : path,
                                       "pipeline `\(entry.key)` has no \(key)",
                                       fix: "list at least one under `\(key)`")
                }
                var ids: [ComponentID] = []
                for (index, text) in texts.enumerated() {
                    let itemPath = "\(reader.childPath(key))[\(index)]"
                    guard let id = ComponentID(parsing: text) else {
                        throw reader.error(at: itemPath, "`\(text)` is not a component id", fix: "write `type` or `type/name`")
                    }
                    guard !ids.contains(id) else {
                        throw reader.error(at: itemPath, "`\(text)` is listed twice", fix: "list it once")
                    }
                    ids.append(id)
                }
                return ids
            }
            let pipeline = Pipeline(id: id, signal: signal,
                                    receivers: try references("receivers", required: true),
                                    processors: try references("processors", required: false),
                                    exporters: try references("exporters", required: true))

            // Every reference resolves.
            let connectorIDs = connectors.map(\.id)
            for (index, ref) in pipeline.receivers.enumerated() where !receivers.contains(where: { $0.id == ref })
                && !connectorIDs.contains(ref) {
                throw reader.error(at: "\(reader.childPath("receivers"))[\(index)]",
                                   "receiver `\(ref)` is not defined under `receivers` or `connectors`",
                                   fix: Self.undefinedFix(ref, defined: receivers.map(\.id) + connectorIDs,
                                                          section: "receivers"))
            }
            for (index, ref) in pipeline.processors.enumerated() where !processors.contains(where: { $0.id == ref }) {
                throw reader.error(at: "\(reader.childPath("processors"))[\(index)]",
                                   "processor `\(ref)` is not defined under `processors`",
                                   fix: Self.undefinedFix(ref, defined: processors.map(\.id), section: "processors"))
            }
            for (index, ref) in pipeline.exporters.enumerated() where !exporters.contains(where: { $0.id == ref })
                && !connectorIDs.contains(ref) {
                if catalog.exporterTypes.contains(ref.type) {
                    if !namedOnlyExporters.contains(ref) { namedOnlyExporters.append(ref) }
                    continue
                }
                let fix: String
                if let close = KeySuggestion.closest(to: ref.description,
                                                     in: (exporters.map(\.id) + connectorIDs).map(\.description)
                                                        + catalog.exporterTypes) {
                    fix = "did you mean `\(close)`?"
                } else {
                    fix = "define it under `exporters`; tandem's exporter types: "
                        + catalog.exporterTypes.map { "`\($0)`" }.joined(separator: ", ")
                }
                throw reader.error(at: "\(reader.childPath("exporters"))[\(index)]",
                                   "exporter `\(ref)` is not defined and `\(ref.type)` is not an exporter type tandem has",
                                   fix: fix)
            }

            // Signals: what each known component can carry.
            for (index, ref) in pipeline.receivers.enumerated() {
                let itemPath = "\(reader.childPath("receivers"))[\(index)]"
                if ref.type == "profiling", receivers.contains(where: { $0.id == ref }), signal != .profiles {
                    throw reader.error(at: itemPath, "the `profiling` receiver produces profiles, not \(signal.rawValue)",
                                       fix: "move `\(ref)` to a `profiles` pipeline")
                }
                if ref.type == "profilingmetrics", connectorIDs.contains(ref), signal != .metrics {
                    throw reader.error(at: itemPath, "the `profilingmetrics` connector produces metrics, not \(signal.rawValue)",
                                       fix: "list `\(ref)` under the receivers of a `metrics` pipeline")
                }
            }
            for (index, ref) in pipeline.exporters.enumerated()
            where ref.type == "profilingmetrics" && connectorIDs.contains(ref) && signal != .profiles {
                throw reader.error(at: "\(reader.childPath("exporters"))[\(index)]",
                                   "the `profilingmetrics` connector consumes profiles, not \(signal.rawValue)",
                                   fix: "list `\(ref)` under the exporters of a `profiles` pipeline")
            }
            for (index, ref) in pipeline.exporters.enumerated()
            where !connectorIDs.contains(ref) && !catalog.exporterTypes(for: signal).contains(ref.type) {
                let able = catalog.exporterTypes(for: signal)
                let built = able.filter { catalog.exporterSignalsNotYetBuilt[$0]?[signal] == nil }
                let notBuilt = able.filter { !built.contains($0) }
                var fix = "use one of tandem's \(signal.rawValue) exporters: " + built.map { "`\($0)`" }.joined(separator: ", ")
                if !notBuilt.isEmpty {
                    fix += " (" + notBuilt.map { "`\($0)`" }.joined(separator: ", ") + " accepted, not delivering yet)"
                }
                if signal == .profiles, catalog.connectorTypes.contains("profilingmetrics"),
                   catalog.exporterTypes(for: .metrics).contains(ref.type) {
                    fix += "; or, for metrics, list `profilingmetrics` here and `\(ref)` in a `metrics` pipeline that receives from it"
                }
                throw reader.error(at: "\(reader.childPath("exporters"))[\(index)]",
                                   "the `\(ref.type)` exporter cannot take \(signal.rawValue)", fix: fix)
            }
            for ref in pipeline.exporters where !connectorIDs.contains(ref) {
                if let reason = catalog.exporterSignalsNotYetBuilt[ref.type]?[signal] {
                    warnings.append("service.pipelines.\(entry.key): exporter `\(ref)` cannot deliver \(signal.rawValue) yet (\(reason)); the aggregator runs, and counts what it would send there as dropped")
                }
            }
            pipelines.append(pipeline)
        }
        undefinedButReferencedExporters = namedOnlyExporters
        exporters += namedOnlyExporters.map {
            ComponentConfig(kind: .exporter, id: $0, node: nil, path: "exporters.\($0)")
        }

        // Connectors join pipelines: used on one side, they must be used on the other.
        for connector in connectors {
            let asExporter = pipelines.contains { $0.exporters.contains(connector.id) }
            let asReceiver = pipelines.contains { $0.receivers.contains(connector.id) }
            if asExporter != asReceiver {
                let missing = asExporter ? "receivers" : "exporters"
                let used = asExporter ? "exporters" : "receivers"
                throw pipelinesReader.error(
                    at: connector.path,
                    "connector `\(connector.id)` is listed under the \(used) of a pipeline but under no pipeline's \(missing)",
                    fix: connector.id.type == "profilingmetrics"
                        ? "list it under `exporters` of a `profiles` pipeline and `receivers` of a `metrics` pipeline"
                        : "list it under the \(missing) of another pipeline")
            }
        }

        // At most one profiling receiver and one profilingmetrics connector run.
        let usedReceivers = Set(pipelines.flatMap(\.receivers)).filter { profilingReceivers[$0] != nil }.sorted()
        if usedReceivers.count > 1 {
            throw pipelinesReader.error(at: "receivers.\(usedReceivers[1])",
                                        "pipelines use \(usedReceivers.count) profiling receivers; tandem runs one",
                                        fix: "use `\(usedReceivers[0])` in every pipeline")
        }
        if let id = usedReceivers.first {
            profilingReceiverID = id
            profilingReceiver = profilingReceivers[id]!
        }
        let usedConnectors = Set(pipelines.flatMap(\.exporters)).filter { profilingMetricsConnectors[$0] != nil }.sorted()
        if usedConnectors.count > 1 {
            throw pipelinesReader.error(at: "connectors.\(usedConnectors[1])",
                                        "pipelines use \(usedConnectors.count) profilingmetrics connectors; tandem runs one",
                                        fix: "use `\(usedConnectors[0])` in every pipeline")
        }
        if let id = usedConnectors.first {
            profilingMetricsID = id
            profilingMetrics = profilingMetricsConnectors[id]!
            warnings += profilingMetrics!.warnings.map { "connectors.\(id): \($0)" }
        }

        // Defined but unused components are ignored, as the Collector does; say so.
        let used = Set(pipelines.flatMap { $0.receivers + $0.processors + $0.exporters })
        for component in receivers + processors + connectors + exporters where !used.contains(component.id) {
            warnings.append("\(component.path) is defined but no pipeline uses it; it is ignored")
        }
        for component in extensions where !serviceExtensions.contains(component.id) {
            warnings.append("\(component.path) is defined but not listed in service.extensions; it is ignored")
        }
        if !serviceExtensions.isEmpty {
            warnings.append("service.extensions: tandem runs no extensions; "
                            + serviceExtensions.map(\.description).joined(separator: ", ") + " ignored")
        }
    }

    private static func undefinedFix(_ ref: ComponentID, defined: [ComponentID], section: String) -> String {
        if let close = KeySuggestion.closest(to: ref.description, in: defined.map(\.description)) {
            return "did you mean `\(close)`?"
        }
        return "define `\(ref)` under `\(section)`"
    }
}
