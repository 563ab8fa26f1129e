import Configuration
import Foundation
import Logging
import Profiles
import SystemCalls

/// `file`: appends each batch as lines of OTLP/JSON (the Collector's file exporter
/// format: an `ExportMetricsServiceRequest` or `ExportProfilesServiceRequest` a line) to
/// `path`, or to standard output when `path` is `-` or absent. A metrics batch of more
/// than `resourcesPerLine` resources takes several lines.
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
        /// The file opened for `path`; nil for standard output, which is not the exporter's to close.
        var file: FileDescriptor?
        var counters = ExporterStatistics()
        var closed = false
        init(file: consuming FileDescriptor?) { self.file = file }

        /// Where batches go, lent.
        var descriptor: Int32 {
            switch file {
            case .some(let file): file.rawValue
            case .none: STDOUT_FILENO
            }
        }
    }

    static let keys = ["path", "format"]

    /// The most resources (processes) encoded into one line. A window of 65,536 processes
    /// as one line built 130 MiB of JSON at once, most of a flood's peak memory
    /// (docs/benchmarks.md, "Chaos run"); a line of this many takes about 2 MiB.
    static let resourcesPerLine = 1024

    init(id: String, settings config: ConfigMappingReader, scopeVersion: String = "", logger: Logger) throws(ConfigurationError) {
        try config.requireOnlyKeys(Self.keys)
        _ = try config.choice("format", among: ["json"])
        let path = try config.string("path").flatMap { $0 == "-" || $0.isEmpty ? nil : $0 }
        var file: FileDescriptor?
        if let path {
            do {
                file = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND, permissions: 0o644)
            } catch {
                throw config.error(at: config.childPath("path"), "cannot open the file for appending: \(error)",
                                   fix: "create its directory or choose a writable path")
            }
        }
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        self.scopeVersion = scopeVersion
        self.logger = logger
        self.path = path
        state = LockedState(file: file)
    }

    /// Writes `batch` (one item in the counters, whatever its number of lines).
    func export(_ batch: MetricsBatch) {
        guard !batch.isEmpty else { return }
        let resources = batch.resourceMetrics
        // Encoded one line at a time as they are written, not all at once.
        let lines = stride(from: 0, to: resources.count, by: Self.resourcesPerLine).lazy.map { start in
            OTLPJSON.encode(MetricsBatch(resourceMetrics: Array(resources[start..<min(start + Self.resourcesPerLine, resources.count)])))
        }
        append(lines: lines, of: "metrics")
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
        append(lines: CollectionOfOne(json), of: "profiles")
    }

    /// Appends each of `lines` and a newline, counting one batch; `signal` names the data
    /// in log lines.
    private func append<Lines: Sequence>(lines: Lines, of signal: String) where Lines.Element == [UInt8] {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.closed else {
            state.counters.dropped += 1
            logger.warning("exporter is shut down; dropping a batch")
            return
        }
        for json in lines {
            var line = json
            line.append(UInt8(ascii: "\n"))
            if let failure = writeAll(line) {
                state.counters.dropped += 1
                logger.error("cannot write \(signal)", metadata: ["path": "\(path ?? "stdout")", "error": "\(failure)"])
                return
            }
        }
        state.counters.sent += 1
    }

    /// Writes all of `line` (`write`, again after `EINTR` and short writes); the error
    /// when it cannot. Call with the lock held.
    private func writeAll(_ line: [UInt8]) -> SystemCallError? {
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return SystemCallError.last("write", subject: path ?? "stdout")
            }
            offset += written
        }
        return nil
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
        state.file = nil  // closes the file; standard output stays open
    }
}
