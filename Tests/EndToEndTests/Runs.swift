import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A workload process of a finished run: its pid (metrics carry process.pid) and comm
/// (folded stacks start with it).
struct WorkloadProcess: Sendable {
    var mode: String
    var pid: Int32
    var comm: String
}

/// What one live session left behind once both processes stopped cleanly.
struct FinishedRun: Sendable {
    var name: String
    var workloads: [WorkloadProcess]
    var metricsURL: URL
    var foldedURL: URL
    var report: String
    /// The capture files the aggregator teed, one per stream.
    var captureFiles: [URL]

    func workload(_ mode: String) -> WorkloadProcess { workloads.first { $0.mode == mode }! }
}

/// The live sessions that several tests examine, each run once per test process.
actor SharedRuns {
    static let shared = SharedRuns()
    private var tasks: [String: Task<FinishedRun, any Error>] = [:]

    private func run(_ name: String, _ body: @escaping @Sendable () throws -> FinishedRun) async throws -> FinishedRun {
        if let task = tasks[name] { return try await task.value }
        let task = Task { try await onOwnThread(body) }
        tasks[name] = task
        return try await task.value
    }

    /// `tandem-demo cpu`, stopped once it has used 5 s of CPU time (not wall time: on a busy
    /// machine it gets less than a CPU). At 999 Hz that is about 5000 samples, so a share's
    /// standard error is under 0.8 points; at 99 Hz (about 800 samples in 8 s) it is 1.8
    /// points, and a 3-point bound would fail one run in ten.
    func cpu() async throws -> FinishedRun {
        try await run("cpu") {
            try LiveRuns.run(name: "cpu", modes: ["cpu"], frequency: 999) { session, workloads in
                let demo = workloads[0]
                try waitUntil("the cpu workload to use 5 s of CPU time", seconds: 120) {
                    guard demo.process.isRunning else { throw EndToEndFailure("the cpu workload exited early: \(demo.process.log)") }
                    return demo.process.cpuSeconds >= 5
                }
                demo.process.signal(SIGKILL)  // the test runner's children may inherit SIGTERM ignored
            }
        }
    }

    /// The four system-call workloads at once: tcp, pipe and futex for 6 s, fsync until it
    /// has run 60 ms on a CPU (it waits for the disk off-CPU, so its on-CPU samples depend on
    /// the disk: 20 to 200 in 6 s here). 999 Hz, for the same reason.
    func kernel() async throws -> FinishedRun {
        try await run("kernel") {
            try LiveRuns.run(name: "kernel", modes: ["tcp", "pipe", "fsync", "futex"], seconds: 6, frequency: 999,
                             longRunning: ["fsync"]) { _, workloads in
                let fsync = workloads.first { $0.mode == "fsync" }!
                try waitUntil("the fsync workload to run 60 ms on a CPU", seconds: 60) {
                    guard fsync.process.isRunning else { throw EndToEndFailure("the fsync workload exited early: \(fsync.process.log)") }
                    return fsync.process.cpuSeconds >= 0.06
                }
                fsync.process.signal(SIGKILL)
            }
        }
    }
}

enum LiveRuns {
    struct Started {
        var mode: String
        var demo: DemoWorkload
        var process: ChildProcess
    }

    /// Starts a session, then the workloads (each its own copy of tandem-demo, so its comm is
    /// unique; those in `longRunning` for 600 s, for `body` to stop), lets `body` drive them, waits until the aggregator has each one's exit, and
    /// stops sampler and aggregator.
    static func run(name: String, modes: [String], seconds: Double = 600, frequency: Int = 99,
                    longRunning: Set<String> = [],
                    _ body: (LiveSession, [Started]) throws -> Void) throws -> FinishedRun {
        let session = try LiveSession(name: name, frequency: frequency)
        var started: [Started] = []
        do {
            let binaries = try Scratch.directory("\(name)-bin")
            let demos = try modes.map { try DemoWorkload.build(named: DemoWorkload.uniqueName($0), in: binaries) }
            try session.start()
            for (mode, demo) in zip(modes, demos) {
                let process = try demo.start(mode, seconds: longRunning.contains(mode) ? 600 : seconds,
                                             log: session.directory.appendingPathComponent("\(mode).log"))
                started.append(Started(mode: mode, demo: demo, process: process))
            }
            try body(session, started)
            for workload in started {
                try workload.process.waitForExit(seconds: 60, "the \(workload.mode) workload")
                try session.waitForExitRecord(of: workload.process.pid)
            }
            try session.stop()
        } catch {
            for workload in started { workload.process.signal(SIGKILL) }
            session.kill()
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        let captures = try FileManager.default.contentsOfDirectory(atPath: session.captureDirectory.path)
            .filter { $0.hasSuffix(".tndm") }.sorted()
            .map { session.captureDirectory.appendingPathComponent($0) }
        return FinishedRun(name: name,
                           workloads: started.map { WorkloadProcess(mode: $0.mode, pid: $0.process.pid, comm: $0.demo.comm) },
                           metricsURL: session.metricsURL, foldedURL: session.foldedURL,
                           report: try String(contentsOf: session.reportURL, encoding: .utf8),
                           captureFiles: captures)
    }
}
