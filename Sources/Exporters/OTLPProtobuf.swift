import Profiles
import ProtobufWire

/// Encodes a ``MetricsBatch`` as the protobuf bytes of an OTLP
/// `ExportMetricsServiceRequest` (opentelemetry/proto/collector/metrics/v1): the body
/// of an OTLP/HTTP request with `Content-Type: application/x-protobuf`.
///
/// Field numbers are those of opentelemetry-proto's metrics.proto, common.proto and
/// resource.proto.
public enum OTLPProtobuf {
    public static func encode(_ batch: MetricsBatch) -> [UInt8] {
        var writer = ProtobufWriter(reservingCapacity: 4096)
        for resourceMetrics in batch.resourceMetrics {
            // ExportMetricsServiceRequest.resource_metrics = 1
            writer.writeMessageField(1) { writeResourceMetrics(resourceMetrics, to: &$0) }
        }
        return writer.bytes
    }

    private static func writeResourceMetrics(_ resourceMetrics: ResourceMetrics, to writer: inout ProtobufWriter) {
        // ResourceMetrics.resource = 1 { Resource.attributes = 1 }
        writer.writeMessageField(1) { writer in
            for attribute in resourceMetrics.resource {
                writer.writeMessageField(1) { writeKeyValue(attribute, to: &$0) }
            }
        }
        for scope in resourceMetrics.scopeMetrics {
            // ResourceMetrics.scope_metrics = 2
            writer.writeMessageField(2) { writer in
                // ScopeMetrics.scope = 1 { InstrumentationScope.name = 1, version = 2 }
                writer.writeMessageField(1) { writer in
                    writer.writeStringField(1, scope.scopeName)
                    writer.writeStringField(2, scope.scopeVersion)
                }
                for metric in scope.metrics {
                    // ScopeMetrics.metrics = 2
                    writer.writeMessageField(2) { writeMetric(metric, to: &$0) }
                }
            }
        }
    }

    private static func writeMetric(_ metric: Metric, to writer: inout ProtobufWriter) {
        // Metric.name = 1, description = 2, unit = 3
        writer.writeStringField(1, metric.name)
        writer.writeStringField(2, metric.description)
        writer.writeStringField(3, metric.unit)
        switch metric.data {
        case .gauge(let points):
            // Metric.gauge = 5 { Gauge.data_points = 1 }
            writer.writeMessageField(5) { writer in
                for point in points {
                    writer.writeMessageField(1) { writeDataPoint(point, to: &$0) }
                }
            }
        case .sum(let points, let temporality, let isMonotonic):
            // Metric.sum = 7 { data_points = 1, aggregation_temporality = 2, is_monotonic = 3 }
            writer.writeMessageField(7) { writer in
                for point in points {
                    writer.writeMessageField(1) { writeDataPoint(point, to: &$0) }
                }
                writer.writeVarintField(2, UInt64(temporality.rawValue))
                writer.writeBoolField(3, isMonotonic)
            }
        }
    }

    private static func writeDataPoint(_ point: NumberDataPoint, to writer: inout ProtobufWriter) {
        // NumberDataPoint: attributes = 7, start_time_unix_nano = 2 (fixed64),
        // time_unix_nano = 3 (fixed64), as_int = 6 (sfixed64). `as_int` is a oneof
        // member, so it is written even when zero: its presence makes the point an integer.
        for attribute in point.attributes {
            writer.writeMessageField(7) { writeKeyValue(attribute, to: &$0) }
        }
        writer.writeFixed64Field(2, point.startTimeUnixNano)
        writer.writeFixed64Field(3, point.timeUnixNano)
        writer.writeFixed64Field(6, UInt64(bitPattern: point.value), always: true)
    }

    private static func writeKeyValue(_ attribute: Attribute, to writer: inout ProtobufWriter) {
        // KeyValue.key = 1, value = 2 { AnyValue.string_value = 1 | int_value = 3 }
        writer.writeStringField(1, attribute.key)
        writer.writeMessageField(2) { writer in
            switch attribute.value {
            case .string(let string): writer.writeStringField(1, string, always: true)
            case .int(let int): writer.writeInt64Field(3, int, always: true)
            }
        }
    }
}
