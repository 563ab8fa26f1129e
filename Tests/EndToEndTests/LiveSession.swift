import Foundation
import Testing
import StreamDecoding
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The two processes as they run in production: tandem-aggregator as the unprivileged
/// user `tandem` with no capabilities, listening on a Unix socket, and tandem-sampler as
/// root streaming to it. The aggregator tees each stream into a capture directory, which
/// the test reads (as root) to know what the aggregator has received.
final class LiveSession: @unchecked Sendable {
    let directory: URL
    let socketPath: String
    let frequency: Int
    let user: (uid: uid_t, gid: gid_t)
    private(set) var aggregator: ChildProcess?
    private(set) var sampler: ChildProcess?
    /// Output and capture directories of each aggregator started, in order.
    private(set) var outputDirectories: [URL] = []
    private(set) var captureDirectories: [URL] = []
    private var samplerCount = 0

    init(name: String, frequency: Int = 99) throws {
        user = try ServiceUser.ensure()
        directory = try Scratch.directory(name, owner: user)
        socketPath = directory.appendingPathComponent("tandem.sock").path
        self.frequency = frequency
    }

    var outputDirectory: URL { outputDirectories.last! }
    var captureDirectory: URL { captureDirectories.last! }

    /// Starts the aggregator under `setpriv` as `tandem` and waits for its socket.
    func startAggregator() throws {
        let index = outputDirectories.count + 1
        let output = directory.appendingPathComponent("output-\(index)")
        let capture = directory.appendingPathComponent("capture-\(index)")
        for url in [output, capture] {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            chown(url.path, user.uid, user.gid)
        }
        outputDirectories.append(output)
        captureDirectories.append(capture)
        let aggregatorBinary = try Executables.path(of: "tandem-aggregator")
        // The socket is the aggregator's, mode 0660: the sampler, which keeps no
        // CAP_DAC_OVERRIDE after start-up, reaches it as a member of the aggregator's group
        // (as the run command and the systemd units do); SO_PEERCRED decides who is served.
        let process = try ChildProcess("/usr/bin/setpriv", ServiceUser.setprivArguments + [
            aggregatorBinary, "serve", "--socket", socketPath, "--socket-mode", "0660",
            "--output-dir", output.path, "--capture", capture.path, "--log-level", "info",
        ], log: directory.appendingPathComponent("aggregator-\(index).log"))
        aggregator = process
        try waitUntil("the aggregator to listen on \(socketPath)", seconds: 30) {
            guard process.isRunning else {
                throw EndToEndFailure("the aggregator exited (\(process.process.terminationStatus)): \(process.log)")
            }
            // Its own log: a socket file left by a killed aggregator does not count.
            return process.log.contains("listening on")
        }
    }

    /// Starts the sampler (root) on the socket and waits until it samples.
    func startSampler(extraArguments: [String] = []) throws {
        samplerCount += 1
        let process = try ChildProcess("/usr/bin/setpriv", [
            "--groups", "\(user.gid)", "--", try Executables.path(of: "tandem-sampler"), "--socket", socketPath, "--samples-per-second", "\(frequency)", "--log-level", "debug",
        ] + extraArguments, log: directory.appendingPathComponent("sampler-\(samplerCount).log"))
        sampler = process
        try waitUntil("the sampler to start sampling and load its walkers", seconds: 180) {
            guard process.isRunning else {
                throw EndToEndFailure("the sampler exited (\(process.process.terminationStatus)): \(process.log)")
            }
            // And, unless walkers are off, until they are loaded: their loader's seconds of
            // verification would otherwise share the CPUs with the workloads measured.
            return process.log.contains("] sampling")
                && (extraArguments.contains("--no-interpreter-frames") || process.log.contains("interpreter walkers ready"))
        }
    }

    /// Both processes, then a wait until samples reach the aggregator (the stream is live).
    func start() throws {
        try startAggregator()
        try startSampler()
        try waitUntil("the first samples to reach the aggregator", seconds: 60) {
            try captures().contains { !$0.samples.isEmpty }
        }
    }

    /// The capture files of the current aggregator, one per connection, decoded so far.
    func captures() throws -> [CaptureFollower] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: captureDirectory.path)) ?? []
        return try names.filter { $0.hasSuffix(".tndm") }.sorted().map { name in
            let path = captureDirectory.appendingPathComponent(name).path
            if let known = followers[path] {
                try known.update()
                return known
            }
            let follower = try CaptureFollower(path: path)
            followers[path] = follower
            return follower
        }
    }
    private var followers: [String: CaptureFollower] = [:]

    /// Waits until the aggregator has received the exit of `pid`: every sample of the
    /// process was streamed before it.
    func waitForExitRecord(of pid: Int32, seconds: Double = 60) throws {
        try waitUntil("the aggregator to receive the exit of pid \(pid)", seconds: seconds) {
            try captures().contains { $0.exitedPIDs.contains(pid) }
        }
    }

    /// Stops the sampler (SIGTERM), waits until the aggregator has read every stream to its
    /// end (it logs each connection's close after consuming the last byte), then stops the
    /// aggregator (SIGTERM). A SIGTERM while it still works through a backlog would end the
    /// streams after its shutdown timeout, with their tail unread.
    func stop() throws {
        try sampler?.terminate(seconds: 30, "tandem-sampler")
        if let aggregator {
            try waitUntil("the aggregator to read every stream to its end", seconds: 120) {
                let log = aggregator.log
                return log.matches(of: /connection \d+ closed/).count >= log.matches(of: /connection \d+ from pid/).count
            }
            // A debug build writes its outputs slowly on a busy machine: allow it time.
            try aggregator.terminate(seconds: 180, "tandem-aggregator")
        }
    }

    /// Kills whatever is still running (after a failed test).
    func kill() {
        sampler?.signal(SIGKILL)
        aggregator?.signal(SIGKILL)
    }

    /// The files the last aggregator wrote on shutdown.
    var metricsURL: URL { outputDirectory.appendingPathComponent("metrics.jsonl") }
    var foldedURL: URL { outputDirectory.appendingPathComponent("stacks.folded") }
    var reportURL: URL { outputDirectory.appendingPathComponent("report.txt") }

    /// Logs of both processes, for failure messages.
    var logs: String {
        "aggregator:\n\(aggregator?.log.suffix(3000) ?? "")\nsampler:\n\(sampler?.log.suffix(3000) ?? "")"
    }
}

/// Follows a capture file the aggregator is still writing: decodes the records appended
/// since the last look. Keeps only what the tests ask about.
final class CaptureFollower: @unchecked Sendable {
    let path: String
    private var offset: UInt64 = 0
    private var decoder = StreamDecoder()
    private(set) var header: StreamHeader?
    private(set) var samples: [(pid: Int32, time: UInt64)] = []
    /// Processes with at least one sample carrying interpreter frames (any runtime's).
    private(set) var pidsWithInterpreterFrames: Set<Int32> = []
    private(set) var describedPIDs: Set<Int32> = []
    /// Per process, samples whose native stack has 5 frames or more and was not cut: its
    /// binary's unwind table had reached the sampler.
    private(set) var deepUserStacks: [Int32: Int] = [:]
    private(set) var exitedPIDs: Set<Int32> = []
    /// BEAM processes with a C-leaf walk anchored at a JIT return address: the native walk
    /// reached the JIT code, so the VM's unwind tables had come (docs/beam.md, "C leaves").
    private(set) var pidsWithBEAMCallerAnchors: Set<Int32> = []
    private(set) var lastStatistics: SamplerStatistics?
    private(set) var endOfStream: EndOfStream?

    init(path: String) throws {
        self.path = path
        try update()
    }

    func update() throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let data = try handle.readToEnd() ?? Data()
        offset += UInt64(data.count)
        decoder.feed(data)
        while let record = try decoder.next() {
            switch record {
            case .header(let value): header = value
            case .sample(let sample):
                samples.append((sample.pid, sample.time))
                if !sample.interpreterStack.isEmpty { pidsWithInterpreterFrames.insert(sample.pid) }
                if sample.interpreterStackKind == .beam, let first = sample.beamFrames.first, first.isAnchor, first.pc != 0 {
                    pidsWithBEAMCallerAnchors.insert(sample.pid)
                }
                if sample.userStack.count >= 5, !sample.flags.contains(.userStackTruncated) {
                    deepUserStacks[sample.pid, default: 0] += 1
                }
            case .process(let process): describedPIDs.insert(process.pid)
            case .processExit(let exit): exitedPIDs.insert(exit.pid)
            case .statistics(let statistics): lastStatistics = statistics
            case .endOfStream(let end): endOfStream = end
            default: break
            }
        }
    }
}
