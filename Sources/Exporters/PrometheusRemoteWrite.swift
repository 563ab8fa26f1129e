import Compression
import Configuration
import Foundation
import Logging
import Profiles
import ProtobufWire

/// One Prometheus series and its samples, before protobuf encoding.
struct PrometheusSeries: Sendable {
    /// Sorted by name, `__name__` included.
    var labels: [(name: String, value: String)]
    /// In time order.
    var samples: [(value: Double, timestampMilliseconds: Int64)]
}

/// Turns OTLP metrics into Prometheus series and encodes remote write requests.
///
/// Prometheus counters are cumulative, while tandem's `samples.*.count` sums are
/// deltas: the converter keeps a running total per series (metric name plus labels)
/// and sends that total. Totals live as long as the exporter, so they restart from
/// zero when the aggregator restarts, which PromQL's `rate`/`increase` read as a
/// counter reset. Cumulative sums and gauges pass through unchanged.
///
/// Resource attributes become labels (what the Collector calls
/// `resource_to_telemetry_conversion`), with no `target_info` series; `job` is
/// `service.namespace/service.name` (or `service.name`) when present, else `tandem`,
/// and `instance` is `service.instance.id` when present, else `host.name`. A data
/// point attribute wins over a resource attribute of the same label name.
final class PrometheusSeriesConverter: @unchecked Sendable {
    private let lock = NSLock()
    /// Running totals of delta sums, by series key; guarded by `lock`.
    private var totals: [SeriesKey: Double] = [:]

    private struct SeriesKey: Hashable {
        var labels: [String]
    }

    func series(for batch: MetricsBatch) -> [PrometheusSeries] {
        lock.lock()
        defer { lock.unlock() }
        var result: [PrometheusSeries] = []
        var indexByKey: [SeriesKey: Int] = [:]
        for resourceMetrics in batch.resourceMetrics {
            let resourceLabels = Self.resourceLabels(resourceMetrics.resource)
            for scope in resourceMetrics.scopeMetrics {
                for metric in scope.metrics {
                    let name = PrometheusNaming.metricName(metric)
                    var accumulate = false
                    if case .sum(_, .delta, _) = metric.data { accumulate = true }
                    // Points in time order, so running totals and samples are ordered.
                    for point in metric.data.points.sorted(by: { $0.timeUnixNano < $1.timeUnixNano }) {
                        var labels = resourceLabels
                        for attribute in point.attributes {
                            labels[PrometheusNaming.labelName(attribute.key)] = attribute.value.text
                        }
                        labels["__name__"] = name
                        let sorted = labels.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
                        let key = SeriesKey(labels: sorted.flatMap { [$0.name, $0.value] })
                        var value = Double(point.value)
                        if accumulate {
                            value += totals[key, default: 0]
                            totals[key] = value
                        }
                        let sample = (value: value, timestampMilliseconds: Int64(point.timeUnixNano / 1_000_000))
                        if let index = indexByKey[key] {
                            result[index].samples.append(sample)
                        } else {
                            indexByKey[key] = result.count
                            result.append(PrometheusSeries(labels: sorted, samples: [sample]))
                        }
                    }
                }
            }
        }
        return result
    }

    private static func resourceLabels(_ resource: [Attribute]) -> [String: String] {
        var labels: [String: String] = [:]
        var byKey: [String: String] = [:]
        for attribute in resource {
            byKey[attribute.key] = attribute.value.text
            labels[PrometheusNaming.labelName(attribute.key)] = attribute.value.text
        }
        if let service = byKey["service.name"] {
            labels["job"] = byKey["service.namespace"].map { "\($0)/\(service)" } ?? service
        } else {
            labels["job"] = "tandem"
        }
        if let instance = byKey["service.instance.id"] ?? byKey["host.name"] {
            labels["instance"] = instance
        }
        return labels
    }

    /// The protobuf `prometheus.WriteRequest`: timeseries = 1 { labels = 1 { name = 1,
    /// value = 2 }, samples = 2 { value = 1 (double), timestamp = 2 (int64 ms) } }.
    static func encodeWriteRequest(_ series: [PrometheusSeries]) -> [UInt8] {
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
}

extension AttributeValue {
    /// The value as label or field text.
    var text: String {
        switch self {
        case .string(let string): return string
        case .int(let int): return String(int)
        }
    }
}

/// `prometheusremotewrite`: sends each batch as a snappy-compressed protobuf
/// `WriteRequest` (remote write 1.0) to `endpoint`.
final class PrometheusRemoteWriteExporter: MetricsExporter {
    let id: String
    private let worker: ExportWorker<Target>

    struct Target: DeliveryTarget {
        var poster: HTTPPoster
        var converter: PrometheusSeriesConverter

        func makeRequests(for batch: MetricsBatch) throws -> [EncodedRequest] {
            let series = converter.series(for: batch)
            guard !series.isEmpty else { return [] }
            let body = try Snappy.compress(PrometheusSeriesConverter.encodeWriteRequest(series))
            return [EncodedRequest(body: body, items: 1)]
        }

        func itemCount(of request: EncodedRequest) -> Int { request.items }

        func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
            poster.attempt(request, timeout: timeout)
        }
    }

    static let keys = ["endpoint", "headers"] + DeliverySettings.keys

    init(id: String, settings config: ConfigMappingReader, logger: Logger) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        guard let url = try config.string("endpoint") else {
            throw config.error(at: config.path, "no `endpoint` is set",
                               fix: "add the remote write URL, e.g. `endpoint: http://localhost:9090/api/v1/write`")
        }
        try checkHTTPURL(url, key: "endpoint", in: config)
        var headers: [(String, String)] = [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ("User-Agent", "tandem-aggregator"),
        ]
        headers += try config.stringMap("headers")?.map { ($0.name, $0.value) } ?? []
        let settings = try DeliverySettings(reading: config)
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        let poster = HTTPPoster(url: url, headers: headers, client: try .forExporter(at: config), logger: logger)
        worker = ExportWorker(target: Target(poster: poster, converter: PrometheusSeriesConverter()),
                              settings: settings, logger: logger, name: id)
    }

    func export(_ batch: MetricsBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
