import Profiles

/// One bulk item: the action line and the document, each one line of NDJSON.
struct BulkItem: Sendable, Hashable {
    var index: String
    var action: [UInt8]
    var document: [UInt8]
    /// The id of a document written once (see ``UniversalProfilingDocuments``), remembered
    /// when Elasticsearch accepts it; nil for documents written every time.
    var writeOnce: WriteOnceID? = nil
}

/// Builds Elasticsearch documents in the shape of the Elasticsearch exporter's `otel`
/// mapping mode, the one Elasticsearch's OTel-native `metrics-*.otel-*` templates expect.
///
/// Data points that share resource, scope, timestamp, start timestamp, attributes and
/// unit go into one document, one field per metric under `metrics`:
///
///     {"@timestamp":1700000000000,"start_timestamp":1699999990000,"unit":"1",
///      "data_stream":{"type":"metrics","dataset":"profilingmetricsconnector.otel","namespace":"default"},
///      "attributes":{"shlib_name":"libc.so.6"},
///      "resource":{"attributes":{"host.name":"h","process.pid":42}},
///      "scope":{"name":"github.com/.../profilingmetricsconnector"},
///      "metrics":{"samples.native.count":7},
///      "_metric_names_hash":"3c23ed0c"}
///
/// Timestamps are epoch milliseconds. The action line names the data stream
/// `metrics-<dataset>.otel-<namespace>` and the dynamic template of each metric field
/// (`counter_long` for monotonic sums, `gauge_long` otherwise) so Elasticsearch maps
/// it as a time-series metric. `_metric_names_hash` (FNV-1a, 32 bits, hex, over the
/// sorted metric names) keeps documents with different metric sets apart in TSDB.
struct ElasticsearchDocumentBuilder: Sendable {
    /// The data stream dataset before the `.otel` suffix.
    var dataset = "profilingmetricsconnector"
    var namespace = "default"
    /// Honour `data_stream.dataset` / `data_stream.namespace` attributes (resource or
    /// data point) for routing (`metrics_dynamic_index.enabled`).
    var dynamicIndex = true

    static let routingKeys: Set<String> = ["data_stream.type", "data_stream.dataset", "data_stream.namespace"]

    private struct DocumentKey: Hashable {
        var time: UInt64
        var startTime: UInt64
        var attributes: [Attribute]
        var unit: String
    }

    private struct PendingDocument {
        var key: DocumentKey
        var metrics: [(name: String, value: Int64, template: String)] = []
    }

    func items(for batch: MetricsBatch) -> [BulkItem] {
        var items: [BulkItem] = []
        for resourceMetrics in batch.resourceMetrics {
            for scope in resourceMetrics.scopeMetrics {
                var documents: [PendingDocument] = []
                var indexByKey: [DocumentKey: Int] = [:]
                for metric in scope.metrics {
                    let template: String
                    if case .sum(_, _, isMonotonic: true) = metric.data { template = "counter_long" } else { template = "gauge_long" }
                    for point in metric.data.points {
                        let key = DocumentKey(time: point.timeUnixNano, startTime: point.startTimeUnixNano,
                                              attributes: point.attributes, unit: metric.unit)
                        let index: Int
                        if let existing = indexByKey[key], !documents[existing].metrics.contains(where: { $0.name == metric.name }) {
                            index = existing
                        } else {
                            // A second point of the same metric and key cannot share the
                            // field: it gets its own document.
                            index = documents.count
                            indexByKey[key] = index
                            documents.append(PendingDocument(key: key))
                        }
                        documents[index].metrics.append((metric.name, point.value, template))
                    }
                }
                for document in documents {
                    items.append(item(document, resource: resourceMetrics.resource, scope: scope))
                }
            }
        }
        return items
    }

    private func route(_ resource: [Attribute], _ attributes: [Attribute]) -> (dataset: String, namespace: String) {
        var dataset = self.dataset
        var namespace = self.namespace
        guard dynamicIndex else { return (dataset, namespace) }
        // Data point attributes override resource attributes.
        for attribute in resource + attributes {
            guard case .string(let value) = attribute.value, !value.isEmpty else { continue }
            if attribute.key == "data_stream.dataset" { dataset = value }
            if attribute.key == "data_stream.namespace" { namespace = value }
        }
        return (Self.sanitize(dataset, dropping: "\\/*?\"<>| ,#:-"), Self.sanitize(namespace, dropping: "\\/*?\"<>| ,#:"))
    }

    /// Data stream name parts: lower case, without the characters Elasticsearch forbids.
    private static func sanitize(_ text: String, dropping forbidden: String) -> String {
        let cleaned = String(text.lowercased().map { forbidden.contains($0) ? "_" : $0 }.prefix(100))
        return cleaned.isEmpty ? "default" : cleaned
    }

    private func item(_ document: PendingDocument, resource: [Attribute], scope: ScopeMetrics) -> BulkItem {
        let (dataset, namespace) = route(resource, document.key.attributes)
        let fullDataset = dataset.hasSuffix(".otel") ? dataset : dataset + ".otel"
        let index = "metrics-\(fullDataset)-\(namespace)"

        var action = JSONWriter()
        action.beginObject()
        action.key("create")
        action.beginObject()
        action.field("_index", index)
        action.key("dynamic_templates")
        action.beginObject()
        for metric in document.metrics { action.field("metrics.\(metric.name)", metric.template) }
        action.endObject()
        action.endObject()
        action.endObject()

        var json = JSONWriter(reservingCapacity: 512)
        json.beginObject()
        json.field("@timestamp", document.key.time / 1_000_000)
        if document.key.startTime != 0 { json.field("start_timestamp", document.key.startTime / 1_000_000) }
        if !document.key.unit.isEmpty { json.field("unit", document.key.unit) }
        json.key("data_stream")
        json.beginObject()
        json.field("type", "metrics")
        json.field("dataset", fullDataset)
        json.field("namespace", namespace)
        json.endObject()
        Self.writeAttributes(document.key.attributes, to: &json)
        json.key("resource")
        json.beginObject()
        Self.writeAttributes(resource, to: &json)
        json.endObject()
        json.key("scope")
        json.beginObject()
        if !scope.scopeName.isEmpty { json.field("name", scope.scopeName) }
        if !scope.scopeVersion.isEmpty { json.field("version", scope.scopeVersion) }
        json.endObject()
        json.key("metrics")
        json.beginObject()
        for metric in document.metrics { json.field(metric.name, metric.value) }
        json.endObject()
        json.field("_metric_names_hash", Self.metricNamesHash(document.metrics.map(\.name)))
        json.endObject()
        return BulkItem(index: index, action: action.bytes, document: json.bytes)
    }

    private static func writeAttributes(_ attributes: [Attribute], to json: inout JSONWriter) {
        let kept = attributes.filter { !routingKeys.contains($0.key) }
        guard !kept.isEmpty else { return }
        json.key("attributes")
        json.beginObject()
        for attribute in kept {
            switch attribute.value {
            case .string(let string): json.field(attribute.key, string)
            case .int(let int): json.field(attribute.key, int)
            }
        }
        json.endObject()
    }

    /// FNV-1a (32 bits) over the sorted, concatenated metric names, in lower-case hex.
    static func metricNamesHash(_ names: [String]) -> String {
        var hash: UInt32 = 0x811C_9DC5
        for name in names.sorted() {
            for byte in name.utf8 {
                hash ^= UInt32(byte)
                hash = hash &* 0x0100_0193
            }
        }
        return String(hash, radix: 16)
    }
}
