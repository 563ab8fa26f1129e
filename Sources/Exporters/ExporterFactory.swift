import Configuration
import Logging

/// Creates exporters from the `exporters:` section of the configuration.
public enum ExporterFactory {
    /// The exporter types this build knows.
    public static let types = ["file", "otlphttp", "otlp", "elasticsearch", "prometheusremotewrite"]

    /// The exporter types that take profiles, and what the others are told.
    public static let profilesTypes = ["file", "otlphttp", "otlp", "elasticsearch"]

    /// Creates the exporter of a `profiles` pipeline configured under `exporters.<id>`.
    public static func makeProfiles(id: String, node: ConfigNode?, locations: [String: ConfigLocation] = [:],
                                    scopeVersion: String, logger: Logger) throws(ConfigurationError) -> any ProfilesExporter {
        let type = id.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? id
        let path = "exporters.\(id)"
        let settings = try ConfigMappingReader(node, path: path, locations: locations)
        switch type {
        case "file":
            return try FileExporter(id: id, settings: settings, scopeVersion: scopeVersion, logger: logger)
        case "otlphttp":
            return try OTLPHTTPProfilesExporter(id: id, settings: settings, scopeVersion: scopeVersion, logger: logger)
        case "otlp":
            return try OTLPGRPCProfilesExporter(id: id, settings: settings, scopeVersion: scopeVersion, logger: logger)
        case "elasticsearch":
            return try ElasticsearchProfilesExporter(id: id, settings: settings, isDefined: node != nil, logger: logger)
        default:
            throw ConfigMappingReader.error(at: path, "the `\(type)` exporter cannot take profiles",
                                            fix: "use one of " + profilesTypes.map { "`\($0)`" }.joined(separator: ", "),
                                            locations: locations)
        }
    }

    /// Creates the exporter configured under `exporters.<id>`.
    ///
    /// - Parameters:
    ///   - id: `type[/name]`, e.g. `elasticsearch` or `otlphttp/backup`.
    ///   - node: its settings; nil when the pipeline names an exporter the configuration
    ///     does not define, in which case the type's defaults apply (and are logged).
    ///   - locations: where each key is in the configuration file, for errors that name its line.
    ///   - logger: where delivery problems are reported.
    public static func make(id: String, node: ConfigNode?, locations: [String: ConfigLocation] = [:],
                            logger: Logger) throws(ConfigurationError) -> any MetricsExporter {
        let type = id.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? id
        let path = "exporters.\(id)"
        guard types.contains(type) else {
            throw ConfigMappingReader.error(at: path, "unknown exporter type `\(type)`",
                                            fix: KeySuggestion.fix(for: type, candidates: types, noun: "exporter types"),
                                            locations: locations)
        }
        let settings = try ConfigMappingReader(node, path: path, locations: locations)
        switch type {
        case "file":
            return try FileExporter(id: id, settings: settings, logger: logger)
        case "otlphttp":
            return try OTLPHTTPExporter(id: id, settings: settings, logger: logger)
        case "otlp":
            return try OTLPGRPCExporter(id: id, settings: settings, logger: logger)
        case "elasticsearch":
            return try ElasticsearchExporter(id: id, settings: settings, isDefined: node != nil, logger: logger)
        default:
            return try PrometheusRemoteWriteExporter(id: id, settings: settings, logger: logger)
        }
    }
}
