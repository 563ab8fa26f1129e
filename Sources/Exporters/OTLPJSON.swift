import Profiles

/// Encodes a ``MetricsBatch`` as the OTLP/JSON form of an `ExportMetricsServiceRequest`:
/// the protobuf JSON mapping as OTLP specifies it (lowerCamelCase field names, 64-bit
/// integers as decimal strings, enums as integers, default values omitted).
///
/// One encoded batch is one line of the OpenTelemetry Collector's file exporter format.
public enum OTLPJSON {
    /// The request as compact JSON, without a trailing newline.
    public static func encode(_ batch: MetricsBatch) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 4096)
        json.beginObject()
        json.key("resourceMetrics")
        json.beginArray()
        for resourceMetrics in batch.resourceMetrics {
            writeResourceMetrics(resourceMetrics, to: &json)
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func writeResourceMetrics(_ resourceMetrics: ResourceMetrics, to json: inout JSONWriter) {
        json.beginObject()
        json.key("resource")
        json.beginObject()
        writeAttributes(resourceMetrics.resource, to: &json)
        json.endObject()
        json.key("scopeMetrics")
        json.beginArray()
        for scope in resourceMetrics.scopeMetrics {
            json.beginObject()
            json.key("scope")
            json.beginObject()
            if !scope.scopeName.isEmpty { json.field("name", scope.scopeName) }
            if !scope.scopeVersion.isEmpty { json.field("version", scope.scopeVersion) }
            json.endObject()
            json.key("metrics")
            json.beginArray()
            for metric in scope.metrics { writeMetric(metric, to: &json) }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }

    private static func writeMetric(_ metric: Metric, to json: inout JSONWriter) {
        json.beginObject()
        json.field("name", metric.name)
        if !metric.description.isEmpty { json.field("description", metric.description) }
        if !metric.unit.isEmpty { json.field("unit", metric.unit) }
        switch metric.data {
        case .gauge(let points):
            json.key("gauge")
            json.beginObject()
            writeDataPoints(points, to: &json)
            json.endObject()
        case .sum(let points, let temporality, let isMonotonic):
            json.key("sum")
            json.beginObject()
            writeDataPoints(points, to: &json)
            json.field("aggregationTemporality", temporality.rawValue)
            if isMonotonic { json.field("isMonotonic", true) }
            json.endObject()
        }
        json.endObject()
    }

    private static func writeDataPoints(_ points: [NumberDataPoint], to json: inout JSONWriter) {
        json.key("dataPoints")
        json.beginArray()
        for point in points {
            json.beginObject()
            writeAttributes(point.attributes, to: &json)
            if point.startTimeUnixNano != 0 { json.field("startTimeUnixNano", String(point.startTimeUnixNano)) }
            if point.timeUnixNano != 0 { json.field("timeUnixNano", String(point.timeUnixNano)) }
            // A oneof member: always present, so readers know the point is an integer.
            json.field("asInt", String(point.value))
            json.endObject()
        }
        json.endArray()
    }

    private static func writeAttributes(_ attributes: [Attribute], to json: inout JSONWriter) {
        guard !attributes.isEmpty else { return }
        json.key("attributes")
        json.beginArray()
        for attribute in attributes {
            json.beginObject()
            json.field("key", attribute.key)
            json.key("value")
            json.beginObject()
            switch attribute.value {
            case .string(let string): json.field("stringValue", string)
            case .int(let int): json.field("intValue", String(int))
            }
            json.endObject()
            json.endObject()
        }
        json.endArray()
    }
}
