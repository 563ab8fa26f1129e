import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Perl frames end to end (docs/perl.md): the known-truth workload
/// (Tests/Workloads/perl/known_truth.pl) under Debian's /usr/bin/perl, one started before the
/// sampler and one after it. What each must show: its subs by `Package::name`, in the CPU
/// shares the workload measured of itself, and samples.perl.count equal to its samples whose
/// leaf is a Perl frame.
@Suite("Perl frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct PerlTests {
    struct Workload: Sendable {
        var comm: String
        var startsAfterSampler = false
    }

    static let perl = "/usr/bin/perl"
    static let workloads = [Workload(comm: "tpl-before"), Workload(comm: "tpl-after", startsAfterSampler: true)]
    /// The workload's subs, in `truth`'s order of its `truth alpha=… beta=… gamma=…` lines.
    static let truthSubs = ["main::alpha", "Calc::beta", "Gamma::gamma"]

    /// The function part of a folded segment (`name` or `name (file:line)`), and whether the
    /// segment is a Perl frame (its file is a Perl source).
    static func parse(_ segment: String) -> (name: String, isPerl: Bool) {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return (segment, false) }
        let file = segment[open.upperBound...].split(separator: ":").first.map(String.init) ?? ""
        return (String(segment[..<open.lowerBound]), file.hasSuffix(".pl") || file.hasSuffix(".pm") || file.hasSuffix(".pl)"))
    }

    @Test("known truth under Debian's perl 5.36: names in >= 95% of Perl samples, shares within 3 points, samples.perl.count")
    func knownTruth() async throws {
        let run = try await onOwnThread { try Self.run() }
        var failures: [String] = []
        let metrics = try MetricPoints(file: run.metricsURL)
        for workload in Self.workloads {
            let state = run.states[workload.comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(workload.comm)
            var innermost: [String: Int] = [:]
            var perlLeaf = 0
            var total = 0
            for stack in stacks {
                total += stack.count
                let frames = stack.frames.map(Self.parse)
                if frames.last?.isPerl == true { perlLeaf += stack.count }
                if let sub = frames.last(where: { $0.isPerl && Self.truthSubs.contains($0.name) }) {
                    innermost[sub.name, default: 0] += stack.count
                }
            }
            let measured = innermost.values.reduce(0, +)
            let shares = Self.truthSubs.map { percent(Int64(innermost[$0] ?? 0), of: Int64(measured)) }
            let perlCount = metrics.sum("samples.perl.count", pid: state.pid) { _ in "" }.values.reduce(0, +)
            print("perl \(workload.comm) (pid \(state.pid)): \(total) samples, with Perl frames after the first: \(state.walk); "
                + zip(Self.truthSubs, zip(shares, state.measuredShares)).map { "\($0.0) \(formatted($0.1.0))% (measured \(formatted($0.1.1))%)" }
                    .joined(separator: ", ")
                + "; samples.perl.count \(perlCount), Perl leaves \(perlLeaf)")
            guard measured >= 800 else {
                failures.append("\(workload.comm): only \(measured) samples with a known sub of \(total)")
                continue
            }
            if state.measuredShares.count != 3 || state.measuredShares.reduce(0, +) < 99 {
                failures.append("\(workload.comm): the workload measured no CPU time in its subs while sampled")
            } else {
                for (name, (share, truth)) in zip(Self.truthSubs, zip(shares, state.measuredShares)) where abs(share - truth) > 3 {
                    failures.append("\(workload.comm): \(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
                }
            }
            if state.walk.share < 95 {
                failures.append("\(workload.comm): \(state.walk) samples with Perl frames after the first one, under 95%")
            }
            // Every Perl-leaf sample counts; a leaf named by address only (its sub record not come yet) may too.
            if perlCount < Int64(perlLeaf) || perlCount > Int64(perlLeaf) + Int64(total - measured) {
                failures.append("\(workload.comm): samples.perl.count \(perlCount), but \(perlLeaf) samples with a Perl leaf")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    struct State: Sendable {
        var pid: Int32
        var walk = CPythonTests.WalkCoverage()
        var measuredShares: [Double] = []
    }

    struct Run: Sendable {
        var states: [String: State]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
    }

    static func run() throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: perl) else {
            throw EndToEndFailure("\(perl) is missing: Debian's perl package is required (DESIGN.md)")
        }
        let script = repositoryRoot.appendingPathComponent("Tests/Workloads/perl/known_truth.pl").path
        let session = try LiveSession(name: "perl", frequency: 999)
        var started: [(Workload, ChildProcess)] = []
        var baselines: [String: CPythonTests.MeasuredTruth] = [:]
        var finals: [String: CPythonTests.MeasuredTruth] = [:]
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ workload: Workload) throws {
            // Through a link named like the comm: named from the exec on.
            let link = binaries.appendingPathComponent(workload.comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: perl)
            let process = try ChildProcess(link, [script, workload.comm],
                                           log: session.directory.appendingPathComponent("\(workload.comm).log"))
            started.append((workload, process))
            try waitUntil("\(workload.comm) to name itself", seconds: 30) {
                guard process.isRunning else { throw EndToEndFailure("\(workload.comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        do {
            for workload in workloads where !workload.startsAfterSampler { try start(workload) }
            try session.start()
            for workload in workloads where workload.startsAfterSampler { try start(workload) }
            let baseline = started.map { $0.1.cpuSeconds }
            for (workload, process) in started {
                baselines[workload.comm] = workload.startsAfterSampler ? CPythonTests.MeasuredTruth()
                    : CPythonTests.MeasuredTruth(log: process.log)
            }
            try waitUntil("every workload to run 2 s on a CPU", seconds: 300) {
                zip(started, baseline).allSatisfy { $0.0.1.cpuSeconds - $0.1 >= 2 }
            }
            for (workload, process) in started { finals[workload.comm] = CPythonTests.MeasuredTruth(log: process.log) }
            for (_, process) in started { process.signal(SIGKILL) }
            for (workload, process) in started {
                try process.waitForExit(seconds: 30, workload.comm)
                try session.waitForExitRecord(of: process.pid)
            }
            try session.stop()
        } catch {
            for (_, process) in started { process.signal(SIGKILL) }
            session.kill()
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        var states: [String: State] = [:]
        for (workload, process) in started {
            let measured = (finals[workload.comm] ?? .init()).shares(since: baselines[workload.comm] ?? .init())
            states[workload.comm] = State(pid: process.pid, measuredShares: measured)
        }
        let comms = Dictionary(uniqueKeysWithValues: started.map { ($0.1.pid, $0.0.comm) })
        try coverage(captureDirectory: session.captureDirectory, comms: comms, into: &states)
        return Run(states: states, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8))
    }

    /// Per workload, in stream order: its samples before and after the first one with Perl
    /// frames, and how many of the latter have them.
    static func coverage(captureDirectory: URL, comms: [Int32: String], into states: inout [String: State]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                var walk = states[comm]!.walk
                let hasFrames = sample.interpreterStackKind == .perl
                if hasFrames || walk.after > 0 {
                    walk.after += 1
                    if hasFrames { walk.withFrames += 1 }
                } else {
                    walk.before += 1
                }
                states[comm]!.walk = walk
            }
        }
    }
}
