import Configuration
import Foundation
import Logging
import Profiles

/// `file`: appends each batch as lines of OTLP/JSON (the Collector's file exporter
/// format), one line per `resourcesPerLine` resources, to `path`, or to standard output
/// when `path` is `-` or absent.
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
        var descriptor: Int32
        var counters = ExporterStatistics()
        var closed = false
        init(descriptor: Int32) { self.descriptor = descriptor }
    }

    static let keys = ["path", "format"]

    /// The most resources (processes) encoded into one line. A window of 65,536 processes
    /// as one line built 130 MiB of JSON at once, most of a flood's peak memory
    /// (docs/benchmarks.md, "Chaos run"); a line of this many takes about 2 MiB.
    static let resourcesPerLine = 1024

    init(id: String, node: ConfigNode?, logger: Logger) throws(ConfigurationError) {
        let config = try ConfigReader(path: "exporters.\(id)", node: node)
        try config.requireOnly(Self.keys)
        _ = try config.choice("format", ["json"])
        let path = try config.string("path").flatMap { $0 == "-" || $0.isEmpty ? nil : $0 }
        var descriptor = STDOUT_FILENO
        if let path {
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                let reason = String(cString: strerror(errno))
                throw ConfigurationError(path: "exporters.\(id).path", problem: "cannot open `\(path)` for appending: \(reason)",
                                         fix: "create its directory or choose a writable path")
            }
        }
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.id = id
        self.logger = logger
        self.path = path
        state = LockedState(descriptor: descriptor)
    }

    /// Writes `batch` (one item in the counters, whatever its number of lines).
    func export(_ batch: MetricsBatch) {
        guard !batch.isEmpty else { return }
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.closed else {
            state.counters.dropped += 1
            logger.warning("exporter is shut down; dropping a batch")
            return
        }
        let resources = batch.resourceMetrics
        for start in stride(from: 0, to: resources.count, by: Self.resourcesPerLine) {
            let part = MetricsBatch(resourceMetrics: Array(resources[start..<min(start + Self.resourcesPerLine, resources.count)]))
            guard !part.isEmpty else { continue }
            var line = OTLPJSON.encode(part)
            line.append(UInt8(ascii: "\n"))
            if let reason = writeAll(line) {
                state.counters.dropped += 1
                logger.error("cannot write metrics", metadata: ["path": "\(path ?? "stdout")", "error": "write: \(reason)"])
                return
            }
        }
        state.counters.sent += 1
    }

    /// Writes all of `line` (`write`, again after `EINTR` and short writes); the reason
    /// when it cannot. Call with the lock held.
    private func writeAll(_ line: [UInt8]) -> String? {
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
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
        if path != nil { close(state.descriptor) }
    }
}
