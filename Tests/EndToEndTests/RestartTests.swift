import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the restart scenario saw, checked by the test afterwards (the scenario runs on a
/// thread of its own, outside the test's task).
struct RestartObservations: Sendable {
    var samplerSurvivedAggregatorKill = false
    var samplerLog = ""
    /// The second aggregator's report.
    var report = ""
    /// For each stream the second aggregator captured: the workload's samples, and those
    /// of them whose stack holds one of its named functions, after a replay of that stream alone.
    var streams: [(name: String, samples: Int, named: Int)] = []
}

extension EndToEndTests {
    /// SIGKILL the aggregator mid-run and start a new one on the same socket: the sampler
    /// reconnects and resends its state, counting what it dropped meanwhile. Then SIGKILL the
    /// sampler and start a new one: the aggregator serves it as a new stream. Samples of a
    /// workload started before both restarts stay symbolized, drops show in the summary, and
    /// every wait is bounded.
    @Test("restarts: aggregator and sampler killed and restarted mid-run both recover; drops are counted")
    func restarts() async throws {
        let seen = try await onOwnThread { try Self.restartScenario() }

        #expect(seen.samplerSurvivedAggregatorKill, "the sampler must survive the aggregator's death")
        let streamsStarted = seen.samplerLog.components(separatedBy: "stream started").count - 1
        #expect(streamsStarted == 2, "the first sampler should have started exactly two streams:\n\(seen.samplerLog)")

        // The second aggregator saw two streams (the first cut by the kill) and says what was dropped.
        let summary = seen.report.split(separator: "\n").suffix(5).joined(separator: "; ")
        print("restarts: the second aggregator's summary: \(summary)")
        #expect(seen.report.contains("streams: 2 ("), "\(seen.report)")
        let drops = seen.report.split(separator: "\n").first { $0.contains("dropped (drops_disconnected): ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(drops > 0, "the drops while disconnected are not in the summary:\n\(seen.report)")

        #expect(seen.streams.count == 2)
        for stream in seen.streams {
            print("restarts: stream \(stream.name): \(stream.named) of \(stream.samples) workload samples in its named functions")
            #expect(stream.samples > 0, "no samples of the workload in \(stream.name)")
            #expect(Double(stream.named) >= 0.9 * Double(stream.samples),
                    "\(stream.name): only \(stream.named) of \(stream.samples) workload samples symbolized")
        }
    }

    private static func restartScenario() throws -> RestartObservations {
        var seen = RestartObservations()
        let session = try LiveSession(name: "restarts")
        let binaries = try Scratch.directory("restarts-bin")
        let demo = try DemoWorkload.build(named: DemoWorkload.uniqueName("cpu"), in: binaries)
        var workload: ChildProcess?
        defer {
            workload?.signal(SIGKILL)
            session.kill()
        }
        do {
            try session.start()
            let running = try demo.start("cpu", seconds: 600, log: session.directory.appendingPathComponent("cpu.log"))
            workload = running
            let pid = running.pid
            func samplesOfWorkload() throws -> Int {
                try session.captures().reduce(0) { $0 + $1.samples.filter { $0.pid == pid }.count }
            }
            try waitUntil("samples of the workload at the first aggregator", seconds: 60) { try samplesOfWorkload() >= 20 }

            // 1. The aggregator dies without a word; the sampler notices and retries with backoff.
            guard let firstAggregator = session.aggregator, let sampler = session.sampler else {
                throw EndToEndFailure("the session did not start both processes")
            }
            firstAggregator.signal(SIGKILL)
            try firstAggregator.waitForExit(seconds: 10, "the killed aggregator")
            try waitUntil("the sampler to find the aggregator gone", seconds: 30) {
                sampler.log.contains("aggregator not reachable")
            }
            seen.samplerSurvivedAggregatorKill = sampler.isRunning

            // 2. A new aggregator on the same path: the sampler reconnects and resends the
            // process records, so the workload's new samples are known again.
            try session.startAggregator()
            try waitUntil("the workload's process record and samples at the new aggregator", seconds: 60) {
                let described = try session.captures().contains { $0.describedPIDs.contains(pid) }
                let samples = try samplesOfWorkload()
                return described && samples >= 20
            }
            try waitUntil("a statistics record counting the drops while disconnected", seconds: 30) {
                try session.captures().contains { ($0.lastStatistics?[.dropsDisconnected] ?? 0) > 0 }
            }
            seen.samplerLog = sampler.log

            // 3. The sampler dies without a word; a new one connects to the same aggregator.
            sampler.signal(SIGKILL)
            try sampler.waitForExit(seconds: 10, "the killed sampler")
            try session.startSampler()
            try waitUntil("samples of the workload on a second stream", seconds: 60) {
                let captures = try session.captures()
                return captures.count == 2 && captures[1].describedPIDs.contains(pid)
                    && captures[1].samples.contains { $0.pid == pid }
            }
            running.signal(SIGKILL)
            try running.waitForExit(seconds: 30, "the workload")
            try session.waitForExitRecord(of: pid)
            try session.stop()
        } catch {
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        seen.report = try String(contentsOf: session.reportURL, encoding: .utf8)

        // Each stream the second aggregator received, replayed alone.
        let captures = try FileManager.default.contentsOfDirectory(atPath: session.captureDirectory.path)
            .filter { $0.hasSuffix(".tndm") }.sorted()
        for name in captures {
            let folded = try Scratch.directory("restarts-replay", owner: session.user).appendingPathComponent("stacks.folded")
            try runReplay("/usr/bin/setpriv", ServiceUser.setprivArguments + [
                try Executables.path(of: "tandem-aggregator"), "replay",
                session.captureDirectory.appendingPathComponent(name).path,
                "--folded", folded.path, "--log-level", "critical",
            ])
            let stacks = try FoldedStacks(file: folded).process(demo.comm)
            let named = stacks.filter { stack in
                stack.frames.contains { ["spin_main_hash", "spin_main_sort", "demo_library_checksum"].contains($0) }
            }
            seen.streams.append((name, stacks.reduce(0) { $0 + $1.count }, named.reduce(0) { $0 + $1.count }))
        }
        return seen
    }
}
