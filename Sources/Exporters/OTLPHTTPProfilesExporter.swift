import Compression
import Configuration
import Logging
import Profiles

/// `otlphttp` in a `profiles` pipeline: POSTs each batch as an OTLP
/// `ExportProfilesServiceRequest` to `<endpoint>/v1development/profiles` (or
/// `profiles_endpoint`), protobuf or JSON, gzip by default; one request per batch.
final class OTLPHTTPProfilesExporter: ProfilesExporter {
    let id: String
    private let worker: ExportWorker<Target>

    struct Target: DeliveryTarget {
        var poster: HTTPPoster
        var encoding: OTLPHTTPSettings.Encoding
        var gzip: Bool
        var scopeVersion: String

        func makeRequests(for batch: ProfilesBatch) throws -> [EncodedRequest] {
            guard !batch.isEmpty else { return [] }
            let body = encoding == .protobuf
                ? try OTLPProfiles.encodeProtobuf(batch, scopeVersion: scopeVersion)
                : try OTLPProfiles.encodeJSON(batch, scopeVersion: scopeVersion)
            return [EncodedRequest(body: gzip ? try Gzip.compress(body) : body, items: 1)]
        }

        func itemCount(ofUnencoded batch: ProfilesBatch) -> Int { 1 }

        func itemCount(of request: EncodedRequest) -> Int { request.items }

        func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
            poster.attempt(request, timeout: timeout)
        }
    }

    init(id: String, settings config: ConfigMappingReader, scopeVersion: String, logger: Logger) throws(ConfigurationError) {
        let settings = try OTLPHTTPSettings(reading: config, signalEndpointKey: "profiles_endpoint",
                                            signalPath: "/v1development/profiles")
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        logger[metadataKey: "signal"] = "profiles"
        self.id = id
        let poster = HTTPPoster(url: settings.url, headers: settings.headers, client: try .forExporter(at: config), logger: logger,
                                partialSuccessItems: .profiles)
        worker = ExportWorker(target: Target(poster: poster, encoding: settings.encoding, gzip: settings.gzip,
                                             scopeVersion: scopeVersion),
                              settings: settings.delivery, logger: logger, name: id)
    }

    func export(_ batch: ProfilesBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
