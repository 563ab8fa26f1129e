import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// V8 (Node.js) frames end to end (docs/v8.md): the known-truth workload
/// (Tests/Workloads/node/known_truth.js) under the image's Node 20, one started well before the
/// sampler (10 s of CPU: TurboFan has compiled its hot functions and inlined fnAlpha, the
/// closure and spin into their callers by then) and one after it. What each must show: its
/// JavaScript functions by name, with their script, in at least 95 % of its samples after the
/// first one with JavaScript frames; the closure by the name V8 inferred; frames of type v8js
/// and samples.v8js.count covering its samples whose leaf is a JavaScript frame; the shares of
/// fnAlpha, beta and fnGamma (the innermost of them on each stack, inlined or not) within 3
/// points of what the workload measured of its own CPU time. Lines: the measured functions'
/// frames carry lines inside their own function's lines in the script, in all four
/// workloads, the third one started with V8's compilers off (interpreted frames only), the
/// fourth with Sparkplug only (baseline frames, their lines from the code's bytecode-offset table).
@Suite("V8 frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/node"),
                "needs /usr/bin/node (Node 20.20.2 here; another build needs its row: scripts/v8-layouts.sh)"))
struct V8Tests {
    static let node = "/usr/bin/node"
    static let workloads: [(comm: String, startsAfterSampler: Bool)] = [("tnode-kt", false), ("tnode-kt-late", true)]
    /// A third workload, started after the sampler with V8's compilers off, so that its frames
    /// are interpreted ones: only its names and lines are checked (the shares are the others').
    static let interpreted = (comm: "tnode-kt-ign", arguments: ["--no-opt", "--no-sparkplug", "--no-maglev"])
    /// A fourth, started after the sampler with every function compiled by Sparkplug and the
    /// optimizing compilers off: its frames are baseline ones (code kind 11 in V8 11.3).
    static let baseline = (comm: "tnode-kt-spk", arguments: ["--always-sparkplug", "--no-opt", "--no-maglev"])
    /// The functions whose frames must carry lines within their own line range in the script.
    static let lineFunctions = ["spin", "measured", "fnAlpha", "beta", "fnGamma"]
    static let script = "known_truth.js"
    /// The workload's functions, by the names V8 gives them.
    static let functions: Set<String> = ["spin", "fnAlpha", "beta", "fnGamma", "measured", "main", "cpu", "report"]
    /// CPU seconds the early workload runs before the sampler starts: its hot functions are
    /// optimized and inlined by then (docs/v8.md).
    static let warmUpSeconds = 10.0
    /// CPU seconds each workload runs while sampled: about 2,000 samples at 999 Hz, whose
    /// spread on a 30 % share is about one point (1.5 s gave 1.4, against a 3-point margin).
    static let sampledSeconds = 3.0

    /// The microseconds known_truth.js measured in alpha, beta and gamma (its last `truth` line).
    struct MeasuredTruth: Sendable {
        var microseconds: [Double] = [0, 0, 0]
        init() {}
        init(log: String) {
            guard let line = log.split(separator: "\n").last(where: { $0.hasPrefix("truth ") }) else { return }
            let values = line.split(separator: " ").dropFirst().compactMap { $0.split(separator: "=").last.flatMap { Double($0) } }
            if values.count == 3 { microseconds = values }
        }
        func shares(since baseline: MeasuredTruth) -> [Double] {
            let spent = zip(microseconds, baseline.microseconds).map { $0 - $1 }
            let total = spent.reduce(0, +)
            return spent.map { total > 0 ? 100 * $0 / total : 0 }
        }
    }

    /// The function part of a folded segment (`name`, `name (file)` or `name (file:line)`),
    /// whether it names the workload's script, and its line (0: none).
    static func parse(_ segment: String) -> (name: String, inScript: Bool, line: Int) {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return (segment, false, 0) }
        let location = segment[open.upperBound...].dropLast()
        let inScript = location == script || location.hasPrefix(script + ":")
        let line = inScript && location.count > script.count ? Int(location.dropFirst(script.count + 1)) ?? -1 : 0
        return (String(segment[..<open.lowerBound]), inScript, line)
    }

    /// The lines each function of `lineFunctions` spans in the script: from its declaration's
    /// line to the line of the brace that closes it (counted from the source).
    static func functionLines(source: String) -> [String: ClosedRange<Int>] {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var ranges: [String: ClosedRange<Int>] = [:]
        for name in lineFunctions {
            guard let first = lines.firstIndex(where: {
                $0.contains("function \(name)(") || $0.contains("const \(name) = (")
            }) else { continue }
            var depth = 0, opened = false, last = first
            scan: for index in first..<lines.count {
                for character in lines[index] {
                    if character == "{" { depth += 1; opened = true }
                    if character == "}" { depth -= 1 }
                    if opened, depth == 0 { last = index; break scan }
                }
            }
            ranges[name] = (first + 1)...(last + 1)
        }
        return ranges
    }

    /// The line where each function of `lineFunctions` spends its time, found in the source:
    /// spin's loop, and the line of each other one's call on the way to it.
    static let hotLineMarkers = ["spin": "for (let i = 0; i < steps", "measured": "= spin(units)",
                                 "fnAlpha": "measured('alpha'", "beta": "measured('beta'", "fnGamma": "measured('gamma'"]

    static func hotLines(source: String) -> [String: Int] {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        return hotLineMarkers.compactMapValues { marker in lines.firstIndex { $0.contains(marker) }.map { $0 + 1 } }
    }

    /// Per workload: frames of `lineFunctions` in the script with a line inside their
    /// function's range, with a line outside it, and without a line (and of those, how many
    /// are the innermost JavaScript frame of their stack).
    static func lineCounts(_ stacks: [(frames: [String], count: Int)], ranges: [String: ClosedRange<Int>])
        -> (inside: Int, outside: Int, none: Int, noneInnermost: Int, examples: [String], lines: [String: [Int: Int]]) {
        var inside = 0, outside = 0, none = 0, noneInnermost = 0, examples: [String] = [], lines: [String: [Int: Int]] = [:]
        for stack in stacks {
            let frames = stack.frames.map(parse)
            let innermost = frames.lastIndex { $0.inScript }
            for (index, frame) in frames.enumerated() where frame.inScript {
                guard let range = ranges[frame.name] else { continue }
                lines[frame.name, default: [:]][frame.line, default: 0] += stack.count
                if frame.line == 0 {
                    none += stack.count
                    if index == innermost { noneInnermost += stack.count }
                } else if range.contains(frame.line) {
                    inside += stack.count
                } else {
                    outside += stack.count
                    if examples.count < 5 { examples.append("\(frame.name):\(frame.line) not in \(range)") }
                }
            }
        }
        return (inside, outside, none, noneInnermost, examples, lines)
    }

    @Test("known truth under Node 20: names with their script in 95% of samples, the closure's inferred name, samples.v8js.count, lines")
    func knownTruth() async throws {
        let run = try await onOwnThread { try Self.run() }
        var failures: [String] = []
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/Workloads/node/\(Self.script)"),
                                encoding: .utf8)
        let ranges = Self.functionLines(source: source)
        let hot = Self.hotLines(source: source)
        if hot.count != Self.hotLineMarkers.count { failures.append("the script's hot lines not found: \(hot)") }
        if ranges.count != Self.lineFunctions.count { failures.append("the script's functions not found: \(ranges)") }
        // Lines (docs/v8.md "Lines"): the measured functions' frames with a line have it inside
        // their own function, mostly on the line where it spends its time, in every workload; nearly all of them have one when they run
        // optimized (the early workload), interpreted (the third) or Sparkplug code (the
        // fourth). The late one runs each kind in turn.
        for comm in Self.workloads.map(\.comm) + [Self.interpreted.comm, Self.baseline.comm] {
            let stacks = try FoldedStacks(file: run.foldedURL).process(comm)
            let counts = Self.lineCounts(stacks, ranges: ranges)
            let total = counts.inside + counts.outside + counts.none
            print("v8 lines \(comm): frames of \(Self.lineFunctions.joined(separator: "/")) with a line in their function \(counts.inside), "
                + "outside it \(counts.outside) \(counts.examples), without a line \(counts.none) (\(counts.noneInnermost) innermost); walk \(run.workloads[comm]!.walk); "
                + "frames by line: \(counts.lines.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.sorted { $0.key < $1.key })" })")
            if counts.outside > 0 {
                failures.append("\(comm): \(counts.outside) frames with a line outside their function: \(counts.examples)")
            }
            // Each function's most frequent line is where it spends its time.
            for (name, expected) in hot {
                let found = (counts.lines[name] ?? [:]).filter { $0.key != 0 }.max { $0.value < $1.value }?.key
                if found != expected {
                    failures.append("\(comm): \(name)'s most frequent line \(found.map(String.init) ?? "none"), not \(expected)")
                }
            }
            if counts.inside == 0 {
                failures.append("\(comm): no frame of the measured functions has a line")
            }
            // A Sparkplug leaf sampled in a builtin without a frame of its own (the `%` and `*`
            // of spin's loop) has its pc outside the function's code: no line (docs/v8.md,
            // "Limits"). The Sparkplug workload's other frames must have theirs.
            let counted = comm == Self.baseline.comm ? total - counts.noneInnermost : total
            if comm != "tnode-kt-late", percent(Int64(counts.inside), of: Int64(counted)) < 90 {
                failures.append("\(comm): \(counts.inside) of \(counted) frames of the measured functions with a line, under 90%")
            }
        }
        // The Sparkplug workload's frames are baseline ones: its lines above are theirs. All
        // but one per sample: the script's entry function, entered in the interpreter before
        // Sparkplug compiled anything, stays there (V8 does not replace a running frame's code
        // with baseline code). A function caught on a call before its baseline code is in runs
        // in the interpreter too: the CI run of 2026-12-06 07:07 UTC had one such sample of
        // 3,056, so up to 1% more interpreted frames than samples pass.
        let baselineWalk = run.workloads[Self.baseline.comm]!.walk
        let kinds = baselineWalk.frameKinds
        let baselineFrames = kinds["code kind 11"] ?? 0
        let interpretedFrames = kinds["interpreted"] ?? 0
        if interpretedFrames > baselineWalk.withFrames + baselineWalk.withFrames / 100
            || percent(Int64(baselineFrames), of: Int64(kinds.values.reduce(0, +) - interpretedFrames)) < 90 {
            failures.append("\(Self.baseline.comm): \(baselineFrames) Sparkplug frames of \(kinds) in \(baselineWalk.withFrames) samples: "
                + "more than one interpreted frame a sample (beyond 1%), or under 90% of the others")
        }
        for (comm, _) in Self.workloads {
            let workload = run.workloads[comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(comm)
            let total = stacks.reduce(0) { $0 + $1.count }
            var scriptLeaf = 0, inner: [String: Int] = [:], withClosure = 0, named = 0
            for stack in stacks {
                let frames = stack.frames.map(Self.parse)
                if let leaf = frames.last, leaf.inScript { scriptLeaf += stack.count }
                if frames.contains(where: { $0.inScript && Self.functions.contains($0.name) }) { named += stack.count }
                if frames.contains(where: { $0.inScript && $0.name == "beta" }) { withClosure += stack.count }
                if let index = frames.lastIndex(where: { $0.inScript && ["fnAlpha", "beta", "fnGamma"].contains($0.name) }) {
                    inner[frames[index].name, default: 0] += stack.count
                }
            }
            let metrics = try MetricPoints(file: run.metricsURL)
            let v8Count = metrics.sum("samples.v8js.count", pid: workload.pid) { _ in "" }.values.reduce(0, +)
            let v8Frames = metrics.sum("samples.frame_type", pid: workload.pid) { $0["frame_type"] ?? "" }["v8js"] ?? 0
            // Samples taken before the walker followed the process have no JavaScript frames.
            let namedShare = percent(Int64(named), of: Int64(max(0, total - workload.walk.before)))
            let attributed = inner.values.reduce(0, +)
            let shares = ["fnAlpha", "beta", "fnGamma"].map { percent(Int64(inner[$0] ?? 0), of: Int64(attributed)) }
            print("v8 \(comm) (pid \(workload.pid)): \(total) samples, walk \(workload.walk), leaf in \(Self.script) \(scriptLeaf); "
                + "named \(named) = \(formatted(namedShare))% of those after the first with JavaScript frames; v8js frames \(v8Frames); "
                + "shares fnAlpha/beta/fnGamma \(shares.map(formatted).joined(separator: "/"))% "
                + "(measured \(workload.measuredShares.map(formatted).joined(separator: "/"))%); "
                + "closure beta in \(withClosure); samples.v8js.count \(v8Count)")
            guard workload.walk.after >= 500 else {
                failures.append("\(comm): only \(workload.walk.after) samples after the first with JavaScript frames")
                continue
            }
            if workload.walk.share < 95 {
                failures.append("\(comm): \(workload.walk) samples with JavaScript frames after the first one, under 95%")
            }
            if namedShare < 95 {
                failures.append("\(comm): \(named) samples name the workload's functions, \(formatted(namedShare))% of those after the first with JavaScript frames, under 95%")
            }
            if v8Frames == 0 { failures.append("\(comm): no frame of type v8js in samples.frame_type") }
            if workload.measuredShares.count != 3 || workload.measuredShares.reduce(0, +) < 99 {
                failures.append("\(comm): the workload measured no CPU time in its functions while sampled")
            }
            for (name, (share, truth)) in zip(["fnAlpha", "beta", "fnGamma"], zip(shares, workload.measuredShares))
            where abs(share - truth) > 3 {
                failures.append("\(comm): \(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
            }
            if withClosure == 0 { failures.append("\(comm): the closure never shows as beta (its inferred name)") }
            if v8Count < Int64(scriptLeaf) { failures.append("\(comm): samples.v8js.count \(v8Count) below the \(scriptLeaf) samples whose leaf is the script's") }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    /// After a workload's first sample with JavaScript frames (its V8 named to the sampler),
    /// how many of its samples have them.
    struct WalkCoverage: Sendable, CustomStringConvertible {
        var before = 0
        var after = 0
        var withFrames = 0
        /// The walker's JavaScript frames by how they ran: interpreted, or V8's code kind
        /// (11 Sparkplug, 12 Maglev, 13 TurboFan in 11.3).
        var frameKinds: [String: Int] = [:]
        var share: Double { percent(Int64(withFrames), of: Int64(after)) }
        var description: String {
            "\(withFrames)/\(after) = \(formatted(share))%, \(before) before; frames \(frameKinds.sorted { $0.key < $1.key })"
        }
    }

    struct Workload: Sendable {
        var pid: Int32
        var walk = WalkCoverage()
        var measuredShares: [Double] = []
    }

    struct Run: Sendable {
        var workloads: [String: Workload]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
    }

    static func run() throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: node) else {
            throw EndToEndFailure("\(node) is missing: the image's Node 20 is required (DESIGN.md)")
        }
        let script = repositoryRoot.appendingPathComponent("Tests/Workloads/node/\(Self.script)").path
        let session = try LiveSession(name: "v8", frequency: 999)
        var started: [(comm: String, late: Bool, process: ChildProcess)] = []
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ comm: String, late: Bool, options: [String] = []) throws {
            // Through a link named like the comm: the process has its name from the exec on.
            let link = binaries.appendingPathComponent(comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: node)
            let process = try ChildProcess(link, options + [script], log: session.directory.appendingPathComponent("\(comm).log"))
            started.append((comm, late, process))
            try waitUntil("\(comm) to start", seconds: 30) {
                guard process.isRunning else { throw EndToEndFailure("\(comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        var baselines: [String: MeasuredTruth] = [:], finals: [String: MeasuredTruth] = [:]
        do {
            for (comm, late) in workloads where !late { try start(comm, late: false) }
            let warming = started.map { ($0.process, $0.process.cpuSeconds) }
            try waitUntil("the early workload to run \(Self.warmUpSeconds) s on a CPU", seconds: 300) {
                warming.allSatisfy { $0.0.cpuSeconds - $0.1 >= Self.warmUpSeconds }
            }
            try session.start()
            for (comm, late) in workloads where late { try start(comm, late: true) }
            try start(interpreted.comm, late: true, options: interpreted.arguments)
            try start(baseline.comm, late: true, options: baseline.arguments)
            let cpu = started.map { $0.process.cpuSeconds }
            for entry in started { baselines[entry.comm] = entry.late ? MeasuredTruth() : MeasuredTruth(log: entry.process.log) }
            try waitUntil("every workload to run \(Self.sampledSeconds) s on a CPU", seconds: 300) {
                zip(started, cpu).allSatisfy { $0.0.process.cpuSeconds - $0.1 >= Self.sampledSeconds }
            }
            for entry in started { finals[entry.comm] = MeasuredTruth(log: entry.process.log) }
            for entry in started { entry.process.signal(SIGKILL) }
            for entry in started {
                try entry.process.waitForExit(seconds: 30, entry.comm)
                try session.waitForExitRecord(of: entry.process.pid)
            }
            try session.stop()
        } catch {
            for entry in started { entry.process.signal(SIGKILL) }
            session.kill()
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        var result: [String: Workload] = [:]
        for entry in started {
            result[entry.comm] = Workload(pid: entry.process.pid, measuredShares: (finals[entry.comm] ?? MeasuredTruth())
                .shares(since: baselines[entry.comm] ?? MeasuredTruth()))
        }
        let comms = Dictionary(uniqueKeysWithValues: started.map { ($0.process.pid, $0.comm) })
        try coverage(captureDirectory: session.captureDirectory, comms: comms, into: &result)
        return Run(workloads: result, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8))
    }

    /// Reads the captures in stream order: per workload, its samples before and after the
    /// first one with JavaScript frames, and how many of the latter have them.
    static func coverage(captureDirectory: URL, comms: [Int32: String], into workloads: inout [String: Workload]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                let hasFrames = sample.interpreterStackKind == .v8
                var walk = workloads[comm]!.walk
                for frame in V8Frame.frames(words: hasFrames ? sample.interpreterStack : []) {
                    walk.frameKinds[frame.kind == .interpreted ? "interpreted" : "code kind \(frame.codeKind)", default: 0] += 1
                }
                if hasFrames || walk.after > 0 {
                    walk.after += 1
                    if hasFrames { walk.withFrames += 1 }
                } else {
                    walk.before += 1
                }
                workloads[comm]!.walk = walk
            }
        }
    }
}
