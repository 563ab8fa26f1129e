import Configuration
import Logging

/// Creates exporters from the `exporters:` section of the configuration.
public enum ExporterFactory {
    /// The exporter types this build knows.
    public static let types = ["file", "otlphttp", "elasticsearch", "prometheusremotewrite"]

    /// Creates the exporter configured under `exporters.<id>`.
    ///
    /// - Parameters:
    ///   - id: `type[/name]`, e.g. `elasticsearch` or `otlphttp/backup`.
    ///   - node: its settings; nil when the pipeline names an exporter the configuration
    ///     does not define, in which case the type's defaults apply (and are logged).
    ///   - logger: where delivery problems are reported.
    public static func make(id: String, node: ConfigNode?, logger: Logger) throws(ConfigurationError) -> any MetricsExporter {
        let type = id.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? id
        switch type {
        case "file":
            return try FileExporter(id: id, node: node, logger: logger)
        case "otlphttp":
            return try OTLPHTTPExporter(id: id, node: node, logger: logger)
        case "elasticsearch":
            return try ElasticsearchExporter(id: id, node: node, logger: logger)
        case "prometheusremotewrite":
            return try PrometheusRemoteWriteExporter(id: id, node: node, logger: logger)
        default:
            let fix = closest(to: type, in: types).map { "did you mean `\($0)`?" }
                ?? "known exporter types: \(types.map { "`\($0)`" }.joined(separator: ", "))"
            throw ConfigurationError(path: "exporters.\(id)", problem: "unknown exporter type `\(type)`", fix: fix)
        }
    }
}
