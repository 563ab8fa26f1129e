import Foundation
import Testing
import StreamDecoding
import WireFormat
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
    /// Every frame of every process, for the first aggregator's stream (index 0, cut by its
    /// kill) and each stream of the second: what the replay named, and where the stream's own
    /// records put the user frames.
    var hostFrames: [(name: String, names: FrameNames, placement: UserFramePlacement)] = []
    /// The same streams' frames of the processes this test runs (the workload and tandem's
    /// daemons, all with symbol tables), by stream name.
    var ownFrames: [String: FrameNames] = [:]
    var ownPlacement: [String: UserFramePlacement] = [:]
}

/// The frames of a replay's folded stacks, every process, weighted by samples: named, a bare
/// address (`0x…`: in no mapping the process had when sampled), or `file+0x…` (in a mapped
/// file without a symbol there). Markers such as `[truncated]` are not frames.
struct FrameNames: Sendable {
    var named = 0
    var bareAddresses = 0
    var fileOffsets = 0
    var unnamed: Int { bareAddresses + fileOffsets }
    /// Frames named, of the frames that are not bare addresses.
    var namedInMappings: Double { Double(named) / Double(max(1, named + fileOffsets)) }

    /// Counts the stacks of the processes whose name (the first folded segment) `includes` accepts.
    init(_ folded: FoldedStacks, processes includes: (String) -> Bool = { _ in true }) {
        for stack in folded.stacks where includes(stack.frames.first ?? "") {
            for frame in stack.frames.dropFirst() where !frame.hasPrefix("[") {
                if frame.wholeMatch(of: /0x[0-9a-f]+/) != nil {
                    bareAddresses += stack.count
                } else if frame.firstMatch(of: /\+0x[0-9a-f]+$/) != nil {
                    fileOffsets += stack.count
                } else {
                    named += stack.count
                }
            }
        }
    }
}

/// The user frames of a captured stream, weighted by samples, against the process and mapping
/// records of the same stream: in a mapping the process had when sampled, in one described only
/// by a later record (a sample that overtook its process's mappings), outside every mapping the
/// stream ever described for that process (a frame-pointer walk through code built without frame
/// pointers reads garbage, 0 included), or of a process whose process or mappings record had
/// not come before the sample.
struct UserFramePlacement: Sendable {
    var inMapping = 0
    var describedLater = 0
    var outsideEveryMapping = 0
    var undescribedProcess = 0
    var outsideByProcess: [String: Int] = [:]
    var total: Int { inMapping + describedLater + outsideEveryMapping + undescribedProcess }

    /// Counts the samples of the processes whose name `includes` accepts.
    init(capture path: String, processes includes: (String) -> Bool = { _ in true }) throws {
        var decoder = StreamDecoder()
        decoder.feed(try Data(contentsOf: URL(fileURLWithPath: path)))
        var comms: [Int32: String] = [:]
        var mappings: [Int32: [(record: Int, ranges: [Range<UInt64>])]] = [:]
        var samples: [(record: Int, pid: Int32, stack: [UInt64])] = []
        var index = 0
        do {
            while let record = try decoder.next() {
                index += 1
                switch record {
                case .process(let process): comms[process.pid] = process.comm
                case .mappings(let set): mappings[set.pid, default: []].append((index, set.mappings.map { $0.start..<$0.end }))
                case .sample(let sample) where !sample.userStack.isEmpty: samples.append((index, sample.pid, sample.userStack))
                default: break
                }
            }
        } catch {
            // A stream cut by a kill ends inside a record: what came before counts.
        }
        for sample in samples where includes(comms[sample.pid] ?? "") {
            let history = mappings[sample.pid] ?? []
            guard comms[sample.pid] != nil, let current = history.last(where: { $0.record < sample.record }) else {
                undescribedProcess += sample.stack.count
                continue
            }
            for address in sample.stack {
                if current.ranges.contains(where: { $0.contains(address) }) {
                    inMapping += 1
                } else if history.contains(where: { $0.record > sample.record && $0.ranges.contains { $0.contains(address) } }) {
                    describedLater += 1
                } else {
                    outsideEveryMapping += 1
                    outsideByProcess[comms[sample.pid] ?? "?", default: 0] += 1
                }
            }
        }
    }
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
        #expect(seen.hostFrames.count >= 2, "the first aggregator's stream and the restarted one were not replayed")
        Self.checkHostFrames(seen)
    }

    /// Why the second aggregator's summary names fewer frames than a steady run (64.5 % in one
    /// run, issue 10; docs/unwind-tables.md, "Frames named after an aggregator restart"): its
    /// unnamed frames are bare addresses outside every mapping their process had, read by
    /// frame-pointer walks through code built without frame pointers (swift-frontend, clang,
    /// ld.gold of the builds sharing the host; swift-frontend's table is above the sampler's
    /// per-table budget, so it is never walked with one, restart or not). Not frames of processes
    /// or mappings the new stream failed to describe, and not files the symbolizer could not
    /// read: the frames inside described mappings are named as well after the restart as before.
    /// The host-wide share follows what else runs in the window the summary covers.
    static func checkHostFrames(_ seen: RestartObservations) {
        for (name, names, placement) in seen.hostFrames {
            let outside = placement.outsideByProcess.sorted { $0.value > $1.value }.prefix(4).map { "\($0.key) \($0.value)" }
            print("restarts: \(name): frames named \(names.named) of \(names.named + names.unnamed); unnamed: \(names.bareAddresses) bare addresses, \(names.fileOffsets) file+offset; user frames \(placement.total): outside every described mapping \(placement.outsideEveryMapping) (\(outside.joined(separator: ", "))), in a mapping described later \(placement.describedLater), of a process not yet described \(placement.undescribedProcess); named of the frames in mappings \(String(format: "%.1f", 100 * names.namedInMappings))%")
            if let own = seen.ownFrames[name] {
                print("restarts: \(name): the test's processes: frames in mappings named \(String(format: "%.1f", 100 * own.namedInMappings))% of \(own.named + own.fileOffsets)")
            }
            guard names.named + names.unnamed >= 1000 else { continue }
            // The stream described the test's processes and mappings before (almost all) their
            // samples. Host-wide, compilers that exec and map files all the time (the builds
            // beside a session's run) have samples overtake their mappings' refresh: printed.
            if let own = seen.ownPlacement[name] {
                #expect(own.describedLater + own.undescribedProcess <= own.total / 20,
                        "\(name): \(own.describedLater + own.undescribedProcess) of \(own.total) user frames of the test's processes or mappings not yet described")
            }
            // How the unnamed frames split between bare addresses and files without symbols
            // follows what else runs (CI: 151 of 269 bare, mostly python3's; a build: 2,303 of
            // 2,352 swift-frontend's), so it is printed above, not asserted.
            // What lies in a described mapping of a file with symbols is named: checked on the
            // test's own processes. Host-wide, the share also follows how many frames fall in
            // other processes' files without symbols (python3's static functions, a stripped
            // cc1), which grows as tables walk more of their stacks correctly instead of
            // reading garbage addresses: printed above, not asserted.
            guard let own = seen.ownFrames[name], own.named + own.fileOffsets >= 100 else { continue }
            #expect(own.namedInMappings >= 0.9,
                    "\(name): \(own.fileOffsets) frames in mapped files of the test's processes left unnamed of \(own.named + own.fileOffsets)")
        }
        // After the restart, the test's processes' frames in mappings are named as before it.
        if let first = seen.hostFrames.first, seen.hostFrames.count >= 2,
           let before = seen.ownFrames[first.name], let after = seen.ownFrames[seen.hostFrames[1].name] {
            #expect(after.namedInMappings >= before.namedInMappings - 0.03,
                    "frames in mappings named: \(after.namedInMappings) after the aggregator's restart, \(before.namedInMappings) before")
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

        // Every process's frames, in the first aggregator's stream and in each of the second's.
        let firstCaptures = try session.captureDirectories.first.map { directory in
            try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tndm") }.sorted()
                .map { directory.appendingPathComponent($0) }
        } ?? []
        let secondCaptures = captures.map { session.captureDirectory.appendingPathComponent($0) }
        for capture in firstCaptures.prefix(1) + secondCaptures {
            let folded = try Scratch.directory("restarts-host", owner: session.user).appendingPathComponent("stacks.folded")
            try runReplay("/usr/bin/setpriv", ServiceUser.setprivArguments + [
                try Executables.path(of: "tandem-aggregator"), "replay", capture.path,
                "--folded", folded.path, "--metrics-out", "/dev/null", "--log-level", "critical",
            ])
            // A stream cut before its first sample (a reconnection the kill interrupted) has no stacks.
            guard FileManager.default.fileExists(atPath: folded.path) else { continue }
            let stacks = try FoldedStacks(file: folded)
            seen.hostFrames.append((capture.lastPathComponent, FrameNames(stacks), try UserFramePlacement(capture: capture.path)))
            let own = { (comm: String) in comm == demo.comm || comm.hasPrefix("tandem-") }
            seen.ownFrames[capture.lastPathComponent] = FrameNames(stacks, processes: own)
            seen.ownPlacement[capture.lastPathComponent] = try UserFramePlacement(capture: capture.path, processes: own)
        }
        return seen
    }
}
