import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension EndToEndTests {
    /// SIGKILL the aggregator mid-run and start a new one on the same socket: the sampler
    /// reconnects and resends its state, counting what it dropped meanwhile. Then SIGKILL the
    /// sampler and start a new one: the aggregator serves it as a new stream. Samples of a
    /// workload started before both restarts stay symbolized, drops show in the summary, and
    /// every wait is bounded.
    @Test("restarts: aggregator and sampler killed and restarted mid-run both recover; drops are counted")
    func restarts() throws {
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
            func samplesOfWorkload() throws -> Int { try session.captures().reduce(0) { $0 + $1.samples.filter { $0.pid == pid }.count } }
            try waitUntil("samples of the workload at the first aggregator", seconds: 60) { try samplesOfWorkload() >= 20 }

            // 1. The aggregator dies without a word; the sampler notices and retries with backoff.
            let firstAggregator = try #require(session.aggregator)
            firstAggregator.signal(SIGKILL)
            try firstAggregator.waitForExit(seconds: 10, "the killed aggregator")
            let sampler = try #require(session.sampler)
            try waitUntil("the sampler to find the aggregator gone", seconds: 30) {
                sampler.log.contains("aggregator not reachable")
            }
            #expect(sampler.isRunning, "the sampler must survive the aggregator's death")

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
            #expect(sampler.log.components(separatedBy: "stream started").count - 1 == 2,
                    "the sampler should have started exactly two streams:\n\(sampler.log)")

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

        // The second aggregator saw two streams (the first cut by the kill) and says what was dropped.
        let report = try String(contentsOf: session.reportURL, encoding: .utf8)
        print("restarts: the second aggregator's summary: \(report.split(separator: "\n").suffix(5).joined(separator: "; "))")
        #expect(report.contains("streams: 2 ("), "\(report)")
        #expect(report.contains("dropped (drops_disconnected): "), "the drops while disconnected are not in the summary:\n\(report)")
        let drops = report.split(separator: "\n").first { $0.contains("dropped (drops_disconnected): ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(drops > 0)

        // Each stream the second aggregator received, replayed alone: the workload's samples
        // are symbolized (the process records came again after each reconnect).
        let captures = try FileManager.default.contentsOfDirectory(atPath: session.captureDirectory.path)
            .filter { $0.hasSuffix(".tndm") }.sorted()
        #expect(captures.count == 2)
        for name in captures {
            let folded = try Scratch.directory("restarts-replay").appendingPathComponent("stacks.folded")
            _ = try? runToCompletion(try Executables.path(of: "tandem-aggregator"),
                                     ["replay", session.captureDirectory.appendingPathComponent(name).path,
                                      "--folded", folded.path, "--log-level", "critical"])
            let stacks = try FoldedStacks(file: folded).process(demo.comm)
            let total = stacks.reduce(0) { $0 + $1.count }
            let named = stacks.filter { stack in
                stack.frames.contains { ["spin_main_hash", "spin_main_sort", "demo_library_checksum"].contains($0) }
            }.reduce(0) { $0 + $1.count }
            print("restarts: stream \(name): \(named) of \(total) workload samples in its named functions")
            #expect(total > 0, "no samples of the workload in \(name)")
            #expect(Double(named) >= 0.9 * Double(total), "\(name): only \(named) of \(total) workload samples symbolized")
        }
    }
}
