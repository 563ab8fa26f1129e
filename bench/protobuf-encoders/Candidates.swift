// The candidates: the same requests built as swift-protobuf messages from code generated
// from the pinned opentelemetry-proto's descriptors and prometheus-remote-write-subset.proto.
import SwiftProtobuf

typealias MetricsRequest = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest

enum GeneratedMetricsEncoder {
    static func request(_ batch: MetricsBatch) -> MetricsRequest {
        var request = MetricsRequest()
        request.resourceMetrics = batch.resourceMetrics.map { resourceMetrics in
            var out = Opentelemetry_Proto_Metrics_V1_ResourceMetrics()
            out.resource.attributes = resourceMetrics.resource.map(keyValue)
            out.scopeMetrics = resourceMetrics.scopeMetrics.map { scopeMetrics in
                var scope = Opentelemetry_Proto_Metrics_V1_ScopeMetrics()
                scope.scope.name = scopeMetrics.scopeName
                scope.scope.version = scopeMetrics.scopeVersion
                scope.metrics = scopeMetrics.metrics.map(metric)
                return scope
            }
            return out
        }
        return request
    }

    static func metric(_ metric: Metric) -> Opentelemetry_Proto_Metrics_V1_Metric {
        var out = Opentelemetry_Proto_Metrics_V1_Metric()
        out.name = metric.name
        out.description_p = metric.description
        out.unit = metric.unit
        switch metric.data {
        case .gauge(let points):
            var gauge = Opentelemetry_Proto_Metrics_V1_Gauge()
            gauge.dataPoints = points.map(point)
            out.gauge = gauge
        case .sum(let points, let temporality, let isMonotonic):
            var sum = Opentelemetry_Proto_Metrics_V1_Sum()
            sum.dataPoints = points.map(point)
            sum.aggregationTemporality = temporality == .delta ? .delta : .cumulative
            sum.isMonotonic = isMonotonic
            out.sum = sum
        }
        return out
    }

    static func point(_ point: NumberDataPoint) -> Opentelemetry_Proto_Metrics_V1_NumberDataPoint {
        var out = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
        out.attributes = point.attributes.map(keyValue)
        out.startTimeUnixNano = point.startTimeUnixNano
        out.timeUnixNano = point.timeUnixNano
        out.asInt = point.value
        return out
    }

    static func keyValue(_ attribute: Attribute) -> Opentelemetry_Proto_Common_V1_KeyValue {
        var out = Opentelemetry_Proto_Common_V1_KeyValue()
        out.key = attribute.key
        switch attribute.value {
        case .string(let text): out.value.stringValue = text
        case .int(let number): out.value.intValue = number
        }
        return out
    }
}

struct RemoteWriteSeries {
    var labels: [(name: String, value: String)]
    var samples: [(value: Double, timestampMilliseconds: Int64)]
}

enum RemoteWriteEncoders {
    /// The calls of `PrometheusSeriesConverter.encodeWriteRequest` (Sources/Exporters/PrometheusRemoteWrite.swift).
    static func handWritten(_ series: [RemoteWriteSeries]) -> [UInt8] {
        var writer = ProtobufWriter(reservingCapacity: 256 * series.count)
        for one in series {
            writer.writeMessageField(1) { writer in
                for label in one.labels {
                    writer.writeMessageField(1) { writer in
                        writer.writeStringField(1, label.name)
                        writer.writeStringField(2, label.value)
                    }
                }
                for sample in one.samples {
                    writer.writeMessageField(2) { writer in
                        writer.writeDoubleField(1, sample.value)
                        writer.writeInt64Field(2, sample.timestampMilliseconds)
                    }
                }
            }
        }
        return writer.bytes
    }

    static func generated(_ series: [RemoteWriteSeries]) -> [UInt8] {
        var request = Prometheus_WriteRequest()
        request.timeseries = series.map { one in
            var out = Prometheus_TimeSeries()
            out.labels = one.labels.map { label in
                var entry = Prometheus_Label()
                entry.name = label.name
                entry.value = label.value
                return entry
            }
            out.samples = one.samples.map { sample in
                var entry = Prometheus_Sample()
                entry.value = sample.value
                entry.timestamp = sample.timestampMilliseconds
                return entry
            }
            return out
        }
        return try! request.serializedBytes()
    }
}
