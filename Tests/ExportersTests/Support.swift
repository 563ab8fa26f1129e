import Configuration
import Foundation
import Logging
import Profiles
import Testing

@testable import Exporters

/// Tests/Peers, next to this target's directory.
let peersDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Peers")

/// The scope name of Elastic's profilingmetrics connector.
let connectorScope = "github.com/elastic/opentelemetry-collector-components/connector/profilingmetricsconnector"

/// A batch shaped like the aggregator's output: a delta monotonic sum with and without
/// attributes, a gauge, negative and zero values, a long string (multi-byte lengths).
func sampleBatch(time: UInt64 = 1_700_000_000_123_456_789, start: UInt64 = 1_700_000_000_000_000_000,
                 userCount: Int64 = 42, nativeCount: Int64 = 7) -> MetricsBatch {
    let longPath = "/opt/" + String(repeating: "very-long-directory/", count: 12) + "app"
    return MetricsBatch(resourceMetrics: [
        ResourceMetrics(resource: [
            Attribute("host.name", "tandem-test"),
            Attribute("process.pid", Int64(4242)),
            Attribute("process.executable.path", longPath),
        ], scopeMetrics: [
            ScopeMetrics(scopeName: connectorScope, scopeVersion: "0.1.0", metrics: [
                Metric(name: "samples.user.count", unit: "1", data: .sum(points: [
                    NumberDataPoint(attributes: [], startTimeUnixNano: start, timeUnixNano: time, value: userCount),
                ], temporality: .delta, isMonotonic: true)),
                Metric(name: "samples.native.count", description: "native leaf frames", unit: "1", data: .sum(points: [
                    NumberDataPoint(attributes: [Attribute("shlib_name", "libc.so.6")],
                                    startTimeUnixNano: start, timeUnixNano: time, value: nativeCount),
                    NumberDataPoint(attributes: [Attribute("shlib_name", "tab\t\"quoted\" é")],
                                    startTimeUnixNano: start, timeUnixNano: time, value: 0),
                ], temporality: .delta, isMonotonic: true)),
                Metric(name: "samples.frame_type", unit: "1", data: .gauge(points: [
                    NumberDataPoint(attributes: [Attribute("frame_type", "native")],
                                    startTimeUnixNano: 0, timeUnixNano: time, value: -3),
                ])),
            ]),
        ]),
    ])
}

/// Builds a mapping node from `(key, value)` pairs.
func mapping(_ entries: (String, ConfigNode)...) -> ConfigNode {
    .mapping(entries.map { ConfigEntry(key: $0.0, value: $0.1) })
}

extension ConfigNode: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .scalar(value) }
}

/// Retry settings that make tests fast.
let fastRetry = mapping(("initial_interval", "10ms"), ("max_interval", "50ms"), ("randomization_factor", "0"))

/// Collects log messages so tests can check that a failure was reported, and why.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }

    func append(_ line: String) {
        lock.lock()
        entries.append(line)
        lock.unlock()
    }

    func logger() -> Logger {
        Logger(label: "tandem.test") { _ in CapturingHandler(capture: self) }
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}

enum PeerError: Error, CustomStringConvertible {
    case missing(String)
    case failed(String)

    var description: String {
        switch self {
        case .missing(let text), .failed(let text): return text
        }
    }
}

/// Runs `python3 -c CODE`; throws with the install hint when a module is missing.
func requirePython(module: String, install: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import \(module)"]
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PeerError.missing("python3 cannot import \(module): the test peer needs it; install it with `\(install)`")
    }
}

/// A child process (a test peer or a real server) that is killed when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errorOutput = Pipe()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errorOutput
        try process.run()
    }

    /// Reads stdout up to the first line starting with `PORT `.
    func readPort() throws -> Int {
        var line: [UInt8] = []
        let descriptor = output.fileHandleForReading.fileDescriptor
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            guard count == 1 else {
                process.waitUntilExit()
                let stderr = String(decoding: errorOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw PeerError.failed("peer exited before printing its port (status \(process.terminationStatus)): \(stderr)")
            }
            if byte == UInt8(ascii: "\n") {
                let text = String(decoding: line, as: UTF8.self)
                if text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) { return port }
                line = []
            } else {
                line.append(byte)
            }
        }
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: children of Foundation's Process can inherit a mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// Starts a Python peer script from Tests/Peers and waits for its port.
func startPeer(_ script: String, _ arguments: [String]) throws -> (ChildProcess, Int) {
    let child = try ChildProcess("/usr/bin/env", ["python3", peersDirectory.appendingPathComponent(script).path] + arguments)
    return (child, try child.readPort())
}

/// Where this test process's temporary directories go: removed, with all of them, when
/// the process exits (one place to clean, not a `defer` at each of the tests).
let temporaryDirectoriesRoot: URL = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-exporters-\(getpid())")
    atexit { try? FileManager.default.removeItem(at: temporaryDirectoriesRoot) }
    return root
}()

/// A fresh temporary directory, under `temporaryDirectoriesRoot`.
func temporaryDirectory() throws -> URL {
    let url = temporaryDirectoriesRoot.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The JSON objects of a JSON-lines file (empty when it does not exist yet).
func readJSONLines(_ url: URL) throws -> [[String: Any]] {
    guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
    return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// A TCP port on 127.0.0.1 with nothing listening (bound, then released).
func unusedPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw PeerError.failed("socket: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(descriptor, pointer, length) == 0 else { return -1 }
            return getsockname(descriptor, pointer, &length)
        }
    }
    guard bound == 0 else { throw PeerError.failed("bind: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until `condition` holds, polling; fails the test after `limit`. Used to wait
/// for a state (never to assert how long something took).
func waitUntil(_ what: String, limit: Duration = .seconds(30), _ condition: () throws -> Bool) throws {
    let end = ContinuousClock.now + limit
    while try !condition() {
        guard ContinuousClock.now < end else { throw PeerError.failed("timed out waiting for \(what)") }
        Thread.sleep(forTimeInterval: 0.02)
    }
}
