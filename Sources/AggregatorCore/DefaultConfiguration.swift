import Configuration

/// The configuration used when none is given: the profiling receiver at 19 Hz,
/// every `profilingmetrics` metric but custom aggregations, and the metrics
/// written by a `file` exporter that is named but not defined: OTLP JSON lines
/// to `--metrics-out`, or to standard output.
public enum DefaultConfiguration {
    public static let yaml = """
        receivers:
          profiling:
            samples_per_second: 19
        connectors:
          profilingmetrics:
            flush_interval: 10s
            metrics:
              samples.frame_type: { enabled: true }
              samples.classification: { enabled: true }
        service:
          pipelines:
            profiles:
              receivers: [ profiling ]
              exporters: [ profilingmetrics ]
            metrics:
              receivers: [ profilingmetrics ]
              exporters: [ file ]
        """

    /// Loads `path`, or the embedded default when `path` is nil.
    public static func load(path: String?) throws -> CollectorConfiguration {
        if let path { return try CollectorConfiguration(contentsOfFile: path) }
        return try CollectorConfiguration(yaml: yaml)
    }
}
