import Compression
import Configuration
import Foundation
import Logging

/// Where and how an `elasticsearch` exporter reaches the cluster: the settings both its
/// signals share (`endpoint(s)`, `api_key` or `user`/`password`, `headers`, `compression`).
struct ElasticsearchConnection: Sendable {
    var endpoints: [String]
    var headers: [(String, String)]
    var gzip: Bool

    static let defaultEndpoint = "http://localhost:9200"

    /// - Parameter isDefined: false when a pipeline names the exporter but `exporters` does
    ///   not define it (its defaults apply, and the log says so).
    init(reading config: ConfigMappingReader, id: String, isDefined: Bool, logger: Logger,
         environment: [String: String]) throws(ConfigurationError) {
        var endpoints = try config.stringList("endpoints") ?? []
        if let endpoint = try config.string("endpoint") {
            guard endpoints.isEmpty else {
                throw config.error(at: config.childPath("endpoint"), "both `endpoint` and `endpoints` are set",
                                   fix: "keep one of them")
            }
            endpoints = [endpoint]
        }
        if endpoints.isEmpty {
            if let fromEnvironment = environment["ELASTICSEARCH_URL"], !fromEnvironment.isEmpty {
                endpoints = fromEnvironment.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                logger.info("no Elasticsearch endpoint configured; using ELASTICSEARCH_URL",
                            metadata: ["endpoints": "\(endpoints.joined(separator: ","))"])
            } else {
                endpoints = [Self.defaultEndpoint]
                if !isDefined {
                    logger.info("exporter `\(id)` is used by a pipeline but not defined under `exporters`; using its defaults",
                                metadata: ["endpoint": "\(Self.defaultEndpoint)"])
                } else {
                    logger.info("no Elasticsearch endpoint configured; using the default",
                                metadata: ["endpoint": "\(Self.defaultEndpoint)"])
                }
            }
        }
        endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        for (index, endpoint) in endpoints.enumerated() {
            // The key the URL came from; from ELASTICSEARCH_URL, the key that would override it.
            try checkHTTPURL(endpoint, key: config.has("endpoints") ? "endpoints[\(index)]" : "endpoint", in: config)
        }

        var headers: [(String, String)] = [("Content-Type", "application/x-ndjson"), ("User-Agent", "tandem-aggregator")]
        let apiKey = try config.string("api_key")
        let user = try config.string("user")
        let password = try config.string("password")
        if apiKey != nil && (user != nil || password != nil) {
            throw config.error(at: config.childPath("api_key"), "both `api_key` and `user`/`password` are set",
                               fix: "use one way to authenticate")
        }
        if let apiKey {
            headers.append(("Authorization", "ApiKey \(apiKey)"))
        } else if let user {
            let credentials = Data("\(user):\(password ?? "")".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(credentials)"))
        } else if password != nil {
            throw config.error(at: config.childPath("password"), "`password` is set without `user`", fix: "add `user`")
        }
        // The Collector's Elasticsearch exporter compresses bulk bodies by default; so does tandem.
        gzip = (try config.choice("compression", among: ["gzip", "none", ""]) ?? "gzip") == "gzip"
        headers += try config.stringMap("headers")?.map { ($0.name, $0.value) } ?? []
        self.endpoints = endpoints
        self.headers = headers
    }
}

/// The documents of one bulk request.
struct BulkRequest: Sendable {
    var items: [BulkItem]
}

/// Delivers bulk requests (`POST <endpoint>/_bulk`) for both signals of the
/// `elasticsearch` exporter; what differs is only how a batch becomes documents.
///
/// Bulk responses are read item by item: items that failed with 429 or a 5xx status
/// are retried (alone), items refused otherwise are counted as rejected and logged with
/// Elasticsearch's error type and reason. With several endpoints, each attempt goes to
/// the next one in turn. Each write-once item that is settled, accepted or refused for
/// good, is reported to `settled` (on the worker thread): that is how write-once documents
/// learn whether they were written.
final class ElasticsearchBulkTarget<Batch: Sendable>: DeliveryTarget, @unchecked Sendable {
    let connection: ElasticsearchConnection
    let client: HTTPClient
    let logger: Logger
    private let encode: @Sendable (Batch) throws -> [BulkItem]
    private let unencodedItems: @Sendable (Batch) -> Int
    private let settled: @Sendable (_ item: BulkItem, _ accepted: Bool) -> Void
    /// Bulk response bytes read per document sent, beyond `HTTPClient.defaultMaximumResponseBytes`.
    static var responseBytesPerDocument: Int { 2048 }
    /// Round-robin position; only the worker thread touches it (see ``attempt``).
    private var nextEndpoint = 0

    init(connection: ElasticsearchConnection, client: HTTPClient, logger: Logger,
         encode: @escaping @Sendable (Batch) throws -> [BulkItem],
         unencodedItems: @escaping @Sendable (Batch) -> Int,
         settled: @escaping @Sendable (_ item: BulkItem, _ accepted: Bool) -> Void = { _, _ in }) {
        self.connection = connection
        self.client = client
        self.logger = logger
        self.encode = encode
        self.unencodedItems = unencodedItems
        self.settled = settled
    }

    /// The body size, before compression, past which a batch's documents go in another
    /// request: bulk requests of a few MiB are what Elasticsearch handles best, and a
    /// busy host's profiles batch can hold hundreds of thousands of documents.
    static var maximumRequestBytes: Int { 5 << 20 }

    func makeRequests(for batch: Batch) throws -> [BulkRequest] {
        var requests: [BulkRequest] = []
        var current: [BulkItem] = []
        var bytes = 0
        for item in try encode(batch) {
            let size = item.action.count + item.document.count + 2
            if bytes + size > Self.maximumRequestBytes, !current.isEmpty {
                requests.append(BulkRequest(items: current))
                current = []
                bytes = 0
            }
            current.append(item)
            bytes += size
        }
        if !current.isEmpty { requests.append(BulkRequest(items: current)) }
        return requests
    }

    func itemCount(ofUnencoded batch: Batch) -> Int { unencodedItems(batch) }

    func itemCount(of request: BulkRequest) -> Int { request.items.count }

    /// Runs on the worker thread only, which makes `nextEndpoint` single-threaded.
    func attempt(_ request: BulkRequest, timeout: Duration) -> DeliveryOutcome<BulkRequest> {
        let endpoints = connection.endpoints
        let endpoint = endpoints[nextEndpoint % endpoints.count]
        nextEndpoint &+= 1
        let url = endpoint + "/_bulk"
        var body: [UInt8] = []
        body.reserveCapacity(request.items.reduce(0) { $0 + $1.action.count + $1.document.count + 2 })
        for item in request.items {
            body += item.action
            body.append(UInt8(ascii: "\n"))
            body += item.document
            body.append(UInt8(ascii: "\n"))
        }
        var headers = connection.headers
        if connection.gzip {
            // zlib fails only when out of memory; the body then goes uncompressed.
            if let compressed = try? Gzip.compress(body) {
                body = compressed
                headers.append(("Content-Encoding", "gzip"))
            }
        }
        let response: HTTPResponse
        do {
            // A bulk response has one result per document (a few hundred bytes, more
            // with an error reason): the bound grows with the request, not the server.
            response = try client.post(url: url, headers: headers, body: body, timeout: timeout,
                                       maximumResponseBytes: HTTPClient.defaultMaximumResponseBytes
                                           + request.items.count * Self.responseBytesPerDocument)
        } catch {
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: nil, reason: "\(url): \(error)")
        }
        switch response.statusClass {
        case .retriable(let retryAfter):
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: retryAfter,
                          reason: "\(url) answered HTTP \(response.status): \(response.bodySummary)")
        case .rejected:
            logger.error("Elasticsearch refused the bulk request; not retrying", metadata: [
                "url": "\(url)", "status": "\(response.status)", "documents": "\(request.items.count)",
                "response": "\(response.bodySummary)",
            ])
            for item in request.items where item.writeOnce != nil { settled(item, false) }
            return .finished(sent: 0, rejected: request.items.count)
        case .success:
            return readItems(response, of: request, url: url)
        }
    }

    /// Whether the response's top-level `errors` is false, from its first bytes
    /// (`{"took":3,"errors":false,"items":[`...), before any item.
    static func startsWithoutErrors(_ body: [UInt8]) -> Bool {
        let head = body.prefix(256)
        guard let items = head.firstRange(of: Array(#""items""#.utf8)) else { return false }
        let before = head[..<items.lowerBound].filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
        return before.firstRange(of: Array(#""errors":false"#.utf8)) != nil
    }

    /// Settles each item from the bulk response's `items` array, in request order.
    private func readItems(_ response: HTTPResponse, of request: BulkRequest, url: String) -> DeliveryOutcome<BulkRequest> {
        // Elasticsearch writes `errors` before the items: when it is false, every item was
        // taken, and the items (one object per document) need not be parsed.
        if Self.startsWithoutErrors(response.body) {
            for item in request.items where item.writeOnce != nil { settled(item, true) }
            return .finished(sent: request.items.count, rejected: 0)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let results = object["items"] as? [[String: Any]], results.count == request.items.count else {
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: nil,
                          reason: "\(url): unreadable bulk response (HTTP \(response.status)): \(response.bodySummary)")
        }
        if (object["errors"] as? Bool) == false {
            for item in request.items where item.writeOnce != nil { settled(item, true) }
            return .finished(sent: request.items.count, rejected: 0)
        }
        var sent = 0
        var rejected = 0
        var retry: [BulkItem] = []
        var retryReason = ""
        for (item, result) in zip(request.items, results) {
            let outcome = result.values.first as? [String: Any] ?? [:]
            let status = (outcome["status"] as? NSNumber)?.intValue ?? 0
            let error = outcome["error"] as? [String: Any]
            let reason = "\(error?["type"] as? String ?? "unknown"): \(error?["reason"] as? String ?? "no reason given")"
            switch status {
            case 200..<300:
                sent += 1
                if item.writeOnce != nil { settled(item, true) }
            case 429, 500..<600:
                retry.append(item)
                retryReason = "bulk item status \(status): \(reason)"
            default:
                rejected += 1
                if item.writeOnce != nil { settled(item, false) }
                logger.error("Elasticsearch refused a document; not retrying", metadata: [
                    "index": "\(item.index)", "status": "\(status)", "reason": "\(reason)",
                ])
            }
        }
        if retry.isEmpty { return .finished(sent: sent, rejected: rejected) }
        return .retry(remaining: BulkRequest(items: retry), sent: sent, rejected: rejected, retryAfter: nil,
                      reason: "\(retry.count) of \(request.items.count) documents failed with a retriable status (last: \(retryReason))")
    }
}
