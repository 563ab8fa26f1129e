// A small in-memory model of OTLP metrics: what the `profilingmetrics` rules
// produce and what every exporter serializes. Field names follow
// opentelemetry/proto/metrics/v1/metrics.proto.

/// An attribute value; the metrics here only need strings and integers.
public enum AttributeValue: Hashable, Sendable {
    case string(String)
    case int(Int64)
}

/// A key/value attribute.
public struct Attribute: Hashable, Sendable {
    public var key: String
    public var value: AttributeValue

    public init(_ key: String, _ value: AttributeValue) {
        self.key = key
        self.value = value
    }

    public init(_ key: String, _ value: String) { self.init(key, .string(value)) }
    public init(_ key: String, _ value: Int64) { self.init(key, .int(value)) }
}

/// An integer data point (`NumberDataPoint` with `as_int`).
public struct NumberDataPoint: Hashable, Sendable {
    /// Sorted by key, so that equal sets compare equal.
    public var attributes: [Attribute]
    public var startTimeUnixNano: UInt64
    public var timeUnixNano: UInt64
    public var value: Int64

    public init(attributes: [Attribute], startTimeUnixNano: UInt64, timeUnixNano: UInt64, value: Int64) {
        self.attributes = attributes.sorted { $0.key < $1.key }
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.value = value
    }
}

/// OTLP `AggregationTemporality`.
public enum AggregationTemporality: Int, Sendable, Hashable {
    case delta = 1
    case cumulative = 2
}

/// The kind of a metric and its points.
public enum MetricData: Hashable, Sendable {
    case sum(points: [NumberDataPoint], temporality: AggregationTemporality, isMonotonic: Bool)
    case gauge(points: [NumberDataPoint])

    public var points: [NumberDataPoint] {
        switch self {
        case .sum(let points, _, _), .gauge(let points): return points
        }
    }
}

public struct Metric: Hashable, Sendable {
    public var name: String
    public var description: String
    public var unit: String
    public var data: MetricData

    public init(name: String, description: String = "", unit: String = "1", data: MetricData) {
        self.name = name
        self.description = description
        self.unit = unit
        self.data = data
    }
}

public struct ScopeMetrics: Hashable, Sendable {
    public var scopeName: String
    public var scopeVersion: String
    public var metrics: [Metric]

    public init(scopeName: String, scopeVersion: String = "", metrics: [Metric]) {
        self.scopeName = scopeName
        self.scopeVersion = scopeVersion
        self.metrics = metrics
    }
}

public struct ResourceMetrics: Hashable, Sendable {
    /// Resource attributes (`host.name`, `process.pid`, ...), sorted by key.
    public var resource: [Attribute]
    public var scopeMetrics: [ScopeMetrics]

    public init(resource: [Attribute], scopeMetrics: [ScopeMetrics]) {
        self.resource = resource.sorted { $0.key < $1.key }
        self.scopeMetrics = scopeMetrics
    }
}

/// One flush of metrics: the content of an OTLP `ExportMetricsServiceRequest`.
public struct MetricsBatch: Hashable, Sendable {
    public var resourceMetrics: [ResourceMetrics]

    public init(resourceMetrics: [ResourceMetrics]) {
        self.resourceMetrics = resourceMetrics
    }

    public var isEmpty: Bool { resourceMetrics.allSatisfy { $0.scopeMetrics.allSatisfy { $0.metrics.isEmpty } } }
}
