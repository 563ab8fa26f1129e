import Configuration
import Foundation
import Logging
import Profiles
import SystemCalls

/// `file`: appends each batch as one line of OTLP/JSON (the Collector's file exporter
/// format) to `path`, or to standard output when `path` is `-` or absent.
///
/// Writes happen in `export`, under a lock: a local file needs no queue or retries.
final class FileExporter: MetricsExporter {
    let id: String
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

    init(id: String, settings config: ConfigMappingReader, logger: Logger) throws(ConfigurationError) {
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
        self.logger = logger
        self.path = path
        state = LockedState(file: file)
    }

    func export(_ batch: MetricsBatch) {
        guard !batch.isEmpty else { return }
        var line = OTLPJSON.encode(batch)
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
                logger.error("cannot write metrics", metadata: ["path": "\(path ?? "stdout")", "error": "\(failure)"])
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
        state.file = nil  // closes the file; standard output stays open
    }
}
