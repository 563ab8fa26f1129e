import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The live tests load BPF, switch users and read other processes' /proc files: root only.
let isRoot = getuid() == 0

/// A failure to set up or to drive the processes under test, with what to do about it.
struct EndToEndFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass; throws naming `what`.
/// Every wait of these tests is one of these: no sleep-then-assert.
func waitUntil(_ what: @autoclosure () -> String, seconds: Double,
               _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if try condition() { return }
        guard Date() < deadline else {
            throw EndToEndFailure("timed out after \(seconds) s waiting for \(what())")
        }
        usleep(50_000)
    }
}

/// Runs blocking work (process waits, polling) on a thread of its own, so that the tests
/// running in parallel do not hold the few threads of Swift's cooperative pool.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// Where `swift build` put tandem-sampler and tandem-aggregator: next to this test bundle.
enum Executables {
    static func path(of name: String) throws -> String {
        let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: bundle).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw EndToEndFailure("\(name) was not built next to the tests (\(bundle)); run `swift build --build-tests` first")
    }
}

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs a program to completion and returns its output; throws unless it exits 0.
@discardableResult
func runToCompletion(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: output, as: UTF8.self)
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
        throw EndToEndFailure("\(executable) \(arguments.joined(separator: " ")) ended with \(process.terminationStatus): \(text)")
    }
    return text
}

/// Runs `tandem-aggregator replay` (through `executable`, e.g. setpriv) to completion. A
/// capture that ends inside a record is accepted: replay then writes what came before and
/// exits 1 saying `is truncated at byte`, and a live stream can end so (a sampler killed
/// mid-send, or one whose 2 s drain at shutdown the loaded aggregator did not keep up with:
/// "stream closed with bytes unsent"); the live aggregator saw the same bytes.
func runReplay(_ executable: String, _ arguments: [String]) throws {
    do {
        try runToCompletion(executable, arguments)
    } catch let failure as EndToEndFailure where failure.description.contains("is truncated at byte") {
        return
    }
}

/// The unprivileged system user the aggregator runs as (created when absent, as the run command does).
enum ServiceUser {
    static let name = "tandem"

    /// `setpriv` arguments that run a program as this user with no capabilities at all.
    static let setprivArguments = [
        "--reuid=\(name)", "--regid=\(name)", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ]

    static func ensure() throws -> (uid: uid_t, gid: gid_t) {
        if let entry = getpwnam(name) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        try runToCompletion("/usr/sbin/useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent",
                                                  "--shell", "/usr/sbin/nologin", name])
        guard let entry = getpwnam(name) else { throw EndToEndFailure("useradd created no user \(name)") }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }
}

/// One directory for everything a test run writes, removed when the test process exits.
enum Scratch {
    static let root: URL = {
        let url = URL(fileURLWithPath: "/tmp/tandem-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        // The aggregator's user must reach the directories below (mkdtemp-style 0700 would not do).
        chmod(url.path, 0o755)
        atexit { try? FileManager.default.removeItem(at: Scratch.root) }
        return url
    }()

    /// A fresh directory under `root`, mode 0755, owned by `owner` when given.
    static func directory(_ name: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws -> URL {
        let url = root.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, 0o755)
        if let owner { chown(url.path, owner.uid, owner.gid) }
        return url
    }
}

/// tandem's demo workload (demo/), compiled as the run command's demo/build.sh does, under a
/// name of its own so that its comm (and so its folded stacks) cannot mix with other processes'.
struct DemoWorkload: Sendable {
    let path: String
    /// The process name the kernel gives it: the file name, cut to 15 bytes.
    var comm: String { String(URL(fileURLWithPath: path).lastPathComponent.prefix(15)) }

    static func build(named name: String, in directory: URL) throws -> DemoWorkload {
        let sources = repositoryRoot.appendingPathComponent("demo")
        let library = directory.appendingPathComponent("libtandemdemo.so").path
        if !FileManager.default.fileExists(atPath: library) {
            try runToCompletion("/usr/bin/cc", ["-O2", "-g", "-fno-omit-frame-pointer", "-fPIC", "-shared", "-o", library,
                                                sources.appendingPathComponent("libtandemdemo.c").path])
        }
        let path = directory.appendingPathComponent(name).path
        try runToCompletion("/usr/bin/cc", ["-O2", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", path,
                                            sources.appendingPathComponent("tandem-demo.c").path,
                                            "-L\(directory.path)", "-ltandemdemo", "-Wl,-rpath,$ORIGIN"])
        chmod(path, 0o755)
        chmod(library, 0o755)
        return DemoWorkload(path: path)
    }

    /// A unique short name: `e2e` + 4 hex digits + the mode, at most 15 bytes.
    static func uniqueName(_ mode: String) -> String {
        "e2e\(String(format: "%04x", UInt16.random(in: 0...UInt16.max)))\(mode)"
    }

    func start(_ mode: String, seconds: Double, log: URL) throws -> ChildProcess {
        try ChildProcess(path, [mode, "\(seconds)"], log: log)
    }
}

/// A child process whose standard error goes to a log file, waited for with deadlines.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let logURL: URL

    init(_ executable: String, _ arguments: [String], log: URL) throws {
        logURL = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: log)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) {
        if process.isRunning { kill(pid, signal) }
    }

    /// Waits for the exit; on timeout kills it and throws.
    func waitForExit(seconds: Double, _ what: String) throws {
        do {
            try waitUntil("\(what) (pid \(pid)) to exit", seconds: seconds) { !process.isRunning }
        } catch {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            throw EndToEndFailure("\(error); its log:\n\(log.suffix(4000))")
        }
    }

    /// SIGTERM, then a bounded wait for a clean exit (status 0).
    func terminate(seconds: Double, _ what: String) throws {
        signal(SIGTERM)
        try waitForExit(seconds: seconds, what)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw EndToEndFailure("\(what) ended with status \(process.terminationStatus) (\(process.terminationReason == .exit ? "exit" : "signal")); its log:\n\(log.suffix(4000))")
        }
    }

    /// CPU time the process's threads have run so far: the scheduler's exact run time
    /// (/proc/PID/task/*/schedstat, nanoseconds), not the tick-sampled utime/stime.
    var cpuSeconds: Double {
        let tasks = "/proc/\(pid)/task"
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
        let nanoseconds = threads.reduce(0.0) { total, thread in
            let text = (try? String(contentsOfFile: "\(tasks)/\(thread)/schedstat", encoding: .utf8)) ?? ""
            return total + (text.split(separator: " ").first.flatMap { Double($0) } ?? 0)
        }
        return nanoseconds / 1e9
    }
}
