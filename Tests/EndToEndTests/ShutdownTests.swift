import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket on 127.0.0.1 that listens but never accepts: an HTTP server that never
/// answers. The kernel completes connections into the backlog; requests wait there.
private final class SilentListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EndToEndFailure("socket(AF_INET): errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw EndToEndFailure("cannot listen on 127.0.0.1: errno \(errno)")
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}

/// A process started the way systemd starts a service: no signal blocked and every
/// disposition at its default (`posix_spawn` with `POSIX_SPAWN_SETSIGMASK | SETSIGDEF`).
/// Foundation's `Process` passes on the test runner's mask, in which SIGTERM is blocked,
/// and that would hide a thread that does not block it.
private final class ServiceProcess {
    let pid: pid_t
    let logPath: String
    private(set) var status: Int32?

    init(_ executable: String, _ arguments: [String], log: String) throws {
        logPath = log
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw EndToEndFailure("posix_spawn \(executable): errno \(result)") }
        pid = child
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
        return status == nil
    }

    /// The raw `waitpid` status once it exited within `seconds`; kills it otherwise.
    func waitForExit(seconds: Double) throws -> Int32 {
        do {
            try waitUntil("tandem-aggregator (pid \(pid)) to exit", seconds: seconds) { !isRunning }
        } catch {
            kill(pid, SIGKILL)
            _ = isRunning
            throw EndToEndFailure("\(error); its log:\n\(log.suffix(4000))")
        }
        return status!
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
    }
}

/// Connects a Unix stream socket to `path`.
private func connectUnix(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: Array(path.utf8))
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard fd >= 0, connected == 0 else { throw EndToEndFailure("cannot connect to \(path): errno \(errno)") }
    return fd
}

/// The built tandem-aggregator alone, fed a recorded stream: needs neither root nor BPF.
@Suite("aggregator shutdown", .serialized)
struct ShutdownTests {
    /// Every thread the aggregator starts (here the otlphttp exporter's, which exists before
    /// `serve` runs) must leave SIGTERM to its signal waiter: otherwise the signal's default
    /// action ends the process with nothing flushed and no outputs written.
    @Test("SIGTERM with a network exporter: exit 0, outputs written, what could not be sent counted")
    func sigtermWithNetworkExporter() throws {
        let directory = try Scratch.directory("shutdown")
        let output = directory.appendingPathComponent("output")
        let socketPath = directory.appendingPathComponent("t.sock").path
        let silent = try SilentListener()
        let configuration = directory.appendingPathComponent("tandem.yml")
        try """
            receivers:
              profiling:
                allowed_uids: [\(getuid())]
            connectors:
              profilingmetrics:
            exporters:
              otlphttp:
                endpoint: http://127.0.0.1:\(silent.port)
                timeout: 1s
                retry_on_failure:
                  enabled: false
            service:
              pipelines:
                profiles:
                  receivers: [profiling]
                  exporters: [profilingmetrics]
                metrics:
                  receivers: [profilingmetrics]
                  exporters: [otlphttp]
            """.write(to: configuration, atomically: true, encoding: .utf8)
        let aggregator = try ServiceProcess(try Executables.path(of: "tandem-aggregator"), [
            "serve", "--config", configuration.path, "--socket", socketPath, "--output-dir", output.path,
            "--log-level", "info", "--statistics-interval", "1",
        ], log: directory.appendingPathComponent("aggregator.log").path)
        try waitUntil("the aggregator to listen", seconds: 60) {
            guard aggregator.isRunning else { throw EndToEndFailure("the aggregator exited: \(aggregator.log)") }
            return aggregator.log.contains("listening on")
        }

        // A recorded stream, left open as a live sampler's would be.
        let stream = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/AggregatorCoreTests/Fixtures/demo-mixed.tndm"))
        let client = try connectUnix(socketPath)
        defer { close(client) }
        let written = stream.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
        #expect(written == stream.count)
        try waitUntil("the aggregator to serve the connection", seconds: 60) { aggregator.log.contains("connection 1 from pid") }
        // Progress is logged while it runs, not only at exit: a killed aggregator leaves these lines.
        try waitUntil("a statistics line with the stream's samples", seconds: 60) {
            aggregator.log.split(separator: "\n").contains { line in
                guard let range = line.range(of: "statistics: samples received ") else { return false }
                return (Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0) > 0 && line.contains("connections accepted 1")
            }
        }

        kill(aggregator.pid, SIGTERM)
        let status = try aggregator.waitForExit(seconds: 120)
        let log = aggregator.log
        // Exited (not killed by the signal: WIFSIGNALED, status 143 in a shell), with status 0.
        #expect(status & 0x7f == 0, "ended by signal \(status & 0x7f); log:\n\(log.suffix(4000))")
        #expect((status >> 8) & 0xff == 0, "exit status \((status >> 8) & 0xff); log:\n\(log.suffix(4000))")
        #expect(log.contains("shutting down"), "\(log.suffix(4000))")
        #expect(log.contains("done: streams: 1"), "\(log.suffix(4000))")
        // Whatever the silent endpoint did not take is counted, not lost silently.
        #expect(log.contains("dropping"), "\(log.suffix(4000))")
        // ... and named with its exporter in the final line.
        let done = log.split(separator: "\n").last { $0.contains("done: streams: 1") } ?? ""
        let exporter = done.range(of: "exporter otlphttp sent=0 retried=0 dropped=").map { done[$0.upperBound...] } ?? ""
        #expect((Int(exporter.prefix { $0.isNumber }) ?? 0) > 0, "\(done)")
        for name in ["metrics.jsonl", "stacks.folded", "profile.pb.gz", "flamegraph.svg", "report.txt"] {
            let path = output.appendingPathComponent(name).path
            #expect(FileManager.default.fileExists(atPath: path), "\(name) missing; log:\n\(log.suffix(4000))")
        }
        let folded = (try? String(contentsOf: output.appendingPathComponent("stacks.folded"), encoding: .utf8)) ?? ""
        #expect(!folded.isEmpty, "the stream's samples reach the outputs")
    }
}
