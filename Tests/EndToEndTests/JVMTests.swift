import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Java frames end to end (docs/jvm.md): the known-truth workload
/// (Tests/Workloads/jvm/KnownTruth.java, compiled here with javac) under Debian's OpenJDK 17,
/// one JVM started before the sampler and one after it, without any JVM flag. What each must
/// show: its methods as `package.Class.method`, in the CPU shares the workload measured of
/// itself, and samples.jvm.count equal to its samples whose leaf is a Java frame.
///
/// C2 inlines all three methods (and `mix` into `alpha`) into `work`'s OSR compilation: they
/// are named from that nmethod's inlining scopes (code records, docs/jvm.md), each as a frame
/// of its own under `work` (the lambda under its proxy's `applyAsInt`), with lines inside its
/// own source lines.
@Suite("JVM frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct JVMTests {
    struct Workload: Sendable {
        var comm: String
        var startsAfterSampler = false
    }

    static let javaHome = "/usr/lib/jvm/java-17-openjdk-amd64"
    static let workloads = [Workload(comm: "tjvm-before"), Workload(comm: "tjvm-after", startsAfterSampler: true)]
    /// The workload's methods, in `truth`'s order of its `truth alpha=… beta=… gamma=…` lines
    /// (gamma is the lambda's body, which javac names `lambda$work$0`).
    static let truthMethods = ["tandem.truth.KnownTruth.alpha", "tandem.truth.KnownTruth$Calc.beta",
                               "tandem.truth.KnownTruth.lambda$work$0"]
    static let jvmOptions: [String] = []
    static let workMethod = "tandem.truth.KnownTruth.work"
    static let threads = 2

    /// The method part of a folded segment (`name` or `name (file:line)`), whether the
    /// segment is a Java frame (its file is a Java source), and its line (0: none).
    static func parse(_ segment: String) -> (name: String, isJava: Bool, line: Int) {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return (segment, false, 0) }
        let parts = segment[open.upperBound...].dropLast().split(separator: ":")
        let file = parts.first.map(String.init) ?? ""
        return (String(segment[..<open.lowerBound]), file.hasSuffix(".java"), parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
    }

    /// The source lines of the workload's methods (from the declaration's line to its closing
    /// brace's), read from KnownTruth.java: what a frame's line must lie in.
    static func sourceLines() throws -> [String: ClosedRange<Int>] {
        let lines = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/Workloads/jvm/KnownTruth.java"),
                               encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func range(_ start: String, closing: String) throws -> ClosedRange<Int> {
            guard let first = lines.firstIndex(where: { $0.contains(start) }),
                  let last = lines[first...].firstIndex(where: { $0.hasPrefix(closing) }) else {
                throw EndToEndFailure("KnownTruth.java has no `\(start)` closed by `\(closing)`")
            }
            return (first + 1)...(last + 1)
        }
        return [truthMethods[0]: try range("static int alpha(", closing: "    }"),
                truthMethods[1]: try range("int beta(", closing: "        }"),
                truthMethods[2]: try range("IntUnaryOperator gamma = units -> {", closing: "        };"),
                workMethod: try range("static void work()", closing: "    }"),
                "tandem.truth.KnownTruth.mix": try range("static int mix(", closing: "    }")]
    }

    @Test("known truth under OpenJDK 17: names in >= 95% of JVM samples, shares within 3 points, samples.jvm.count")
    func knownTruth() async throws {
        let run = try await onOwnThread { try Self.run() }
        var failures: [String] = []
        let metrics = try MetricPoints(file: run.metricsURL)
        let sourceLines = try Self.sourceLines()
        for workload in Self.workloads {
            let state = run.states[workload.comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(workload.comm)
            var innermost: [String: Int] = [:]
            // Per truth method: samples where `work` calls it (directly, or the lambda through
            // its proxy's applyAsInt), and where its and work's lines lie in their source lines.
            var calledByWork: [String: Int] = [:]
            var linesRight: [String: Int] = [:]
            var wrongLines: [String: Int] = [:]
            // The most frequent Java part (from work to the leaf) under each truth method, for the log.
            var javaParts: [String: [String: Int]] = [:]
            var javaLeaf = 0
            var withJava = 0
            var total = 0
            for stack in stacks {
                total += stack.count
                let frames = stack.frames.map(Self.parse)
                if frames.last?.isJava == true { javaLeaf += stack.count }
                if frames.contains(where: \.isJava) { withJava += stack.count }
                if let index = frames.lastIndex(where: { $0.isJava && Self.truthMethods.contains($0.name) }) {
                    let method = frames[index]
                    innermost[method.name, default: 0] += stack.count
                    var caller = index - 1
                    if caller >= 0, method.name == Self.truthMethods[2], frames[caller].name.hasSuffix(".applyAsInt") { caller -= 1 }
                    if caller >= 0, frames[caller].name == Self.workMethod { calledByWork[method.name, default: 0] += stack.count }
                    let fromWork = frames[(frames.lastIndex { $0.name == Self.workMethod } ?? index)...]
                    let part = stack.frames.suffix(fromWork.count).joined(separator: ";")
                    javaParts[method.name, default: [:]][part, default: 0] += stack.count
                    // Lines of the frames from work to the leaf's Java method.
                    let chain = frames[(frames.lastIndex { $0.name == Self.workMethod } ?? index)...].filter { sourceLines[$0.name] != nil }
                    if chain.allSatisfy({ sourceLines[$0.name]!.contains($0.line) }) {
                        linesRight[method.name, default: 0] += stack.count
                    } else {
                        for frame in chain where !sourceLines[frame.name]!.contains(frame.line) { wrongLines["\(frame.name):\(frame.line)", default: 0] += stack.count }
                    }
                }
            }
            let measured = innermost.values.reduce(0, +)
            let shares = Self.truthMethods.map { percent(Int64(innermost[$0] ?? 0), of: Int64(measured)) }
            let jvmCount = metrics.sum("samples.jvm.count", pid: state.pid) { _ in "" }.values.reduce(0, +)
            print("jvm \(workload.comm) (pid \(state.pid)): \(total) samples, \(withJava) with named Java frames; "
                + "with Java frames after the first: \(state.walk), of the worker threads \(state.workerWalk); "
                + zip(Self.truthMethods, zip(shares, state.measuredShares)).map { "\($0.0) \(formatted($0.1.0))% (measured \(formatted($0.1.1))%)" }
                    .joined(separator: ", ")
                + "; samples.jvm.count \(jvmCount), Java leaves \(javaLeaf)"
                + "; called by work \(calledByWork), lines in their methods \(linesRight), wrong lines \(wrongLines)"
                + "; with compiled frames of code records \(state.withCodeFrames)")
            for name in Self.truthMethods {
                if let top = javaParts[name]?.max(by: { $0.value < $1.value }) { print("  most frequent under \(name): \(top.key) \(top.value)") }
            }
            guard measured >= 800 else {
                failures.append("\(workload.comm): only \(measured) samples with a known method of \(total)")
                continue
            }
            if state.measuredShares.count != 3 || state.measuredShares.reduce(0, +) < 99 {
                failures.append("\(workload.comm): the workload measured no CPU time in its methods while sampled")
            } else {
                for (name, (share, truth)) in zip(Self.truthMethods, zip(shares, state.measuredShares)) where abs(share - truth) > 3 {
                    failures.append("\(workload.comm): \(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
                }
            }
            for name in Self.truthMethods {
                let samples = innermost[name] ?? 0
                if percent(Int64(calledByWork[name] ?? 0), of: Int64(samples)) < 95 {
                    failures.append("\(workload.comm): \(name) is called by work in \(calledByWork[name] ?? 0) of its \(samples) samples")
                }
                if percent(Int64(linesRight[name] ?? 0), of: Int64(samples)) < 95 {
                    failures.append("\(workload.comm): \(name) and its callers up to work have lines in their methods in \(linesRight[name] ?? 0) of \(samples) samples")
                }
            }
            // The workload runs in C2's code once warm: its frames come named from code records.
            if percent(Int64(state.withCodeFrames), of: Int64(state.walk.withFrames)) < 50 {
                failures.append("\(workload.comm): only \(state.withCodeFrames) of \(state.walk.withFrames) samples have a compiled frame named by a code record")
            }
            if state.walk.share < 95 {
                failures.append("\(workload.comm): \(state.walk) samples with Java frames after the first one, under 95%")
            }
            // Named: every sample with Java frames past the first whose method records came;
            // the samples of the seconds before the walk started have none.
            if percent(Int64(withJava), of: Int64(state.walk.withFrames)) < 95 {
                failures.append("\(workload.comm): \(withJava) samples with named Java frames, of \(state.walk.withFrames) with Java frames")
            }
            // Every Java-leaf sample counts; a leaf named by address only (its method record not come yet) may too.
            if jvmCount < Int64(javaLeaf) || jvmCount > Int64(javaLeaf) + Int64(total - withJava) {
                failures.append("\(workload.comm): samples.jvm.count \(jvmCount), but \(javaLeaf) samples with a Java leaf")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.walkerLog.suffix(4000))\n\(run.report.prefix(6000))")
    }

    struct State: Sendable {
        var pid: Int32
        /// All of the JVM's threads (its compiler and GC threads too), and its worker threads only.
        var walk = CPythonTests.WalkCoverage()
        var workerWalk = CPythonTests.WalkCoverage()
        var measuredShares: [Double] = []
        /// Samples with a compiled frame whose nmethod came with a code record (inlining scopes).
        var withCodeFrames = 0
    }

    struct Run: Sendable {
        var states: [String: State]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
        /// The daemons' log lines about the JVM and its walker, for a failure's message.
        var walkerLog: String
    }

    static func run() throws -> Run {
        let java = "\(javaHome)/bin/java"
        guard FileManager.default.isExecutableFile(atPath: java), FileManager.default.isExecutableFile(atPath: "\(javaHome)/bin/javac") else {
            throw EndToEndFailure("\(javaHome) is missing: Debian's openjdk-17-jdk-headless package is required (DESIGN.md)")
        }
        let source = repositoryRoot.appendingPathComponent("Tests/Workloads/jvm/KnownTruth.java").path
        let session = try LiveSession(name: "jvm", frequency: 999)
        let classes = session.directory.appendingPathComponent("classes")
        let javac = try ChildProcess("\(javaHome)/bin/javac", ["-d", classes.path, source],
                                     log: session.directory.appendingPathComponent("javac.log"))
        try javac.waitForExit(seconds: 120, "javac")
        var started: [(Workload, ChildProcess)] = []
        var baselines: [String: CPythonTests.MeasuredTruth] = [:]
        var finals: [String: CPythonTests.MeasuredTruth] = [:]
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ workload: Workload) throws {
            // Through a link named like the comm: named from the exec on (the launcher finds
            // its JDK through /proc/self/exe).
            let link = binaries.appendingPathComponent(workload.comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: java)
            let process = try ChildProcess(link, jvmOptions + ["-cp", classes.path, "tandem.truth.KnownTruth", "\(threads)"],
                                           log: session.directory.appendingPathComponent("\(workload.comm).log"))
            started.append((workload, process))
            try waitUntil("\(workload.comm) to start its threads", seconds: 60) {
                guard process.isRunning else { throw EndToEndFailure("\(workload.comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        do {
            for workload in workloads where !workload.startsAfterSampler { try start(workload) }
            try session.start()
            for workload in workloads where workload.startsAfterSampler { try start(workload) }
            // The walk starts once the aggregator has compiled libjvm.so's unwind table (1.5 MB
            // of it; behind every other process's tables on a busy machine, tens of seconds in
            // a debug build) and named the JVM in record 21: measured from then on.
            try waitUntil("each JVM's samples to carry Java frames", seconds: 300) {
                let pids = try session.captures().reduce(into: Set<Int32>()) { $0.formUnion($1.pidsWithInterpreterFrames) }
                return started.allSatisfy { pids.contains($0.1.pid) }
            }
            let baseline = started.map { $0.1.cpuSeconds }
            for (workload, process) in started { baselines[workload.comm] = CPythonTests.MeasuredTruth(log: process.log) }
            try waitUntil("every workload to run 4 s on a CPU", seconds: 300) {
                zip(started, baseline).allSatisfy { $0.0.1.cpuSeconds - $0.1 >= 4 }
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
        let walkerLog = [session.aggregator?.log ?? "", session.sampler?.log ?? ""].joined(separator: "\n")
            .split(separator: "\n").filter { line in ["jvm", "JVM", "HotSpot", "hotspot", "Java", "walker"].contains { line.contains($0) } }
            .joined(separator: "\n")
        return Run(states: states, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8), walkerLog: walkerLog)
    }

    /// Per workload, in stream order: its samples before and after the first one with Java
    /// frames, and how many of the latter have them; over all its threads, and over its
    /// worker threads (`truth-N`) only.
    static func coverage(captureDirectory: URL, comms: [Int32: String], into states: inout [String: State]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        func note(_ hasFrames: Bool, _ walk: inout CPythonTests.WalkCoverage) {
            if hasFrames || walk.after > 0 {
                walk.after += 1
                if hasFrames { walk.withFrames += 1 }
            } else {
                walk.before += 1
            }
        }
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                let hasFrames = sample.interpreterStackKind == .hotspot && !sample.interpreterStack.isEmpty
                note(hasFrames, &states[comm]!.walk)
                if sample.interpreterStackKind == .hotspot,
                   HotSpotFrame.frames(words: sample.interpreterStack).contains(where: { $0.kind == .compiledCode }) {
                    states[comm]!.withCodeFrames += 1
                }
                if sample.threadName.hasPrefix("truth-") { note(hasFrames, &states[comm]!.workerWalk) }
            }
        }
    }
}
