import Compression
import Configuration
import Logging
import Profiles

/// `otlp` (OTLP over gRPC) in a `profiles` pipeline: calls
/// `opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export` with each
/// batch as one `ExportProfilesServiceRequest`, gzip by default.
final class OTLPGRPCProfilesExporter: ProfilesExporter {
    static let method = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"

    let id: String
    private let worker: ExportWorker<Target>

    struct Target: DeliveryTarget {
        var caller: GRPCCaller
        var gzip: Bool
        var scopeVersion: String

        func makeRequests(for batch: ProfilesBatch) throws -> [EncodedRequest] {
            guard !batch.isEmpty else { return [] }
            let message = try OTLPProfiles.encodeProtobuf(batch, scopeVersion: scopeVersion)
            return [EncodedRequest(body: try GRPCMessage.frame(gzip ? try Gzip.compress(message) : message, compressed: gzip),
                                   items: 1)]
        }

        func itemCount(ofUnencoded batch: ProfilesBatch) -> Int { 1 }

        func itemCount(of request: EncodedRequest) -> Int { request.items }

        func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
            caller.attempt(request, timeout: timeout)
        }
    }

    init(id: String, settings config: ConfigMappingReader, scopeVersion: String, logger: Logger) throws(ConfigurationError) {
        let settings = try OTLPGRPCSettings(reading: config)
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        logger[metadataKey: "signal"] = "profiles"
        self.id = id
        let caller = GRPCCaller(url: settings.baseURL + Self.method, headers: settings.headers, client: try .forExporter(at: config),
                                caFile: settings.caFile, logger: logger, partialSuccessItems: .profiles)
        worker = ExportWorker(target: Target(caller: caller, gzip: settings.gzip, scopeVersion: scopeVersion),
                              settings: settings.delivery, logger: logger, name: id)
    }

    func export(_ batch: ProfilesBatch) { worker.enqueue(batch) }
    var statistics: ExporterStatistics { worker.statistics }
    func shutdown(deadline: ContinuousClock.Instant) { worker.shutdown(deadline: deadline) }
}
