import Configuration
import Foundation
import Logging
import Profiles
import SystemCalls

/// `file`: appends each batch as one line of OTLP/JSON (the Collector's file exporter
/// format: an `ExportMetricsServiceRequest` or `ExportProfilesServiceRequest` a line) to
/// `path`, or to standard output when `path` is `-` or absent.
///
/// Writes happen in `export`, under a lock: a local file needs no queue or retries.
final class FileExporter: MetricsExporter, ProfilesExporter {
    let id: String
    /// The version of the scope profiles are written under.
    private let scopeVersion: String
    private let logger: Logger
    private let path: String?
    private let state: LockedState

    /// The open descriptor and counters, guarded by `lock`.
    private final class LockedState: @unchecked Sendable {
        let lock = NSLock()
        var descriptor: Int32
        var counters = ExporterStatistics()
        var closed = false
        init(descriptor: Int32) { self.descriptor = descriptor }
    }

    static let keys = ["path", "format"]

    init(id: String, settings config: ConfigMappingReader, scopeVersion: String = "", logger: Logger) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        _ = try config.choice("format", among: ["json"])
        let path = try config.string("path").flatMap { $0 == "-" || $0.isEmpty ? nil : $0 }
        var descriptor = STDOUT_FILENO
        if let path {
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                let failure = SystemCallError.last("open", subject: path)
                throw config.error(at: config.childPath("path"), "cannot open the file for appending: \(failure)",
                                   fix: "create its directory or choose a writable path")
            }
        }
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        self.scopeVersion = scopeVersion
        self.logger = logger
        self.path = path
        state = LockedState(descriptor: descriptor)
    }

    func export(_ batch: MetricsBatch) {
        guard !batch.isEmpty else { return }
        append(line: OTLPJSON.encode(batch), of: "metrics")
    }

    func export(_ batch: ProfilesBatch) {
        guard !batch.isEmpty else { return }
        let json: [UInt8]
        do {
            json = try OTLPProfiles.encodeJSON(batch, scopeVersion: scopeVersion)
        } catch {
            state.lock.lock()
            state.counters.dropped += 1
            state.lock.unlock()
            logger.error("cannot encode profiles", metadata: ["error": "\(error)"])
            return
        }
        append(line: json, of: "profiles")
    }

    /// Appends `json` and a newline; `signal` names the data in log lines.
    private func append(line json: [UInt8], of signal: String) {
        var line = json
        line.append(UInt8(ascii: "\n"))
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.closed else {
            state.counters.dropped += 1
            logger.warning("exporter is shut down; dropping a batch")
            return
        }
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let failure = SystemCallError.last("write", subject: path ?? "stdout")
                state.counters.dropped += 1
                logger.error("cannot write \(signal)", metadata: ["path": "\(path ?? "stdout")", "error": "\(failure)"])
                return
            }
            offset += written
        }
        state.counters.sent += 1
    }

    var statistics: ExporterStatistics {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.counters
    }

    func shutdown(deadline: ContinuousClock.Instant) {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.closed else { return }
        state.closed = true
        if path != nil { close(state.descriptor) }
    }
}
