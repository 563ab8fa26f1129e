import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// CPython frames end to end (docs/cpython.md): the known-truth workload
/// (Tests/Workloads/python/known_truth.py) under Debian's python3.11 and every pyenv
/// CPython 3.8 to 3.13, each started before the sampler, plus one started after it and
/// one with three threads. What each must show: its Python functions by name, in their
/// known CPU shares, under the recursion that called them, and samples.cpython.count
/// equal to its samples whose leaf is a Python frame.
@Suite("CPython frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct CPythonTests {
    struct Interpreter: Sendable {
        /// The comm the workload gives itself (at most 15 bytes).
        var comm: String
        var path: String
        var threads: Int = 1
        var startsAfterSampler = false
        /// Interpreter options before the script (`-X perf`: perf trampolines, 3.12+).
        var options: [String] = []
        var script = "known_truth.py"
    }

    /// Debian's own and the image's pyenv versions (DESIGN.md: the machine has them all).
    static let interpreters: [Interpreter] = [
        Interpreter(comm: "tpy-deb311", path: "/usr/bin/python3.11"),
        Interpreter(comm: "tpy-deb311-thr", path: "/usr/bin/python3.11", threads: 3),
        Interpreter(comm: "tpy-deb311-late", path: "/usr/bin/python3.11", startsAfterSampler: true),
    ] + [("3.8", "3.8.18"), ("3.9", "3.9.18"), ("3.10", "3.10.13"), ("3.11", "3.11.7"), ("3.12", "3.12.1"), ("3.13", "3.13.0")]
        .map { minor, version in
            Interpreter(comm: "tpy-\(minor.replacingOccurrences(of: ".", with: ""))",
                        path: "/root/.pyenv/versions/\(version)/bin/python\(minor)")
        } + [
            // Perf trampolines (no CFI, no frame pointer) between every two evaluations: the native
            // walk must cross them to the root, and they must not double the Python frames.
            Interpreter(comm: "tpy-312-xperf", path: "/root/.pyenv/versions/3.12.1/bin/python3.12", options: ["-X", "perf"]),
        ]

    /// The workload's functions and their share of the samples whose innermost Python
    /// function is one of them, as designed (5, 2 and 3 units of work); each run compares
    /// with what the workload measured instead (`MeasuredTruth`). 3.8 to 3.10 have no
    /// qualified names: `beta`, not `Calc.beta`.
    static let truth: [(names: Set<String>, share: Double)] = [
        (["alpha"], 50), (["Calc.beta", "beta"], 20), (["gamma"], 30),
    ]

    /// The CPU nanoseconds known_truth.py measured in alpha, beta and gamma (its last
    /// `truth ...` line; zeros before the first).
    struct MeasuredTruth: Sendable {
        var nanoseconds: [Double] = [0, 0, 0]
        /// `CLOCK_MONOTONIC` nanoseconds when the workload took the totals, if its line says
        /// (`at=NS`, cleaf_truth.erl): the samples' clock.
        var takenAt: UInt64?

        init() {}

        init(log: String) {
            guard let line = log.split(separator: "\n").last(where: { $0.hasPrefix("truth ") }) else { return }
            let fields = line.split(separator: " ").dropFirst().map { $0.split(separator: "=", maxSplits: 1) }
            let values = fields.filter { $0.first != "at" }.compactMap { $0.last.flatMap { Double($0) } }
            if values.count == 3 { nanoseconds = values }
            takenAt = fields.first { $0.first == "at" }.flatMap { $0.last.flatMap { UInt64($0) } }
        }

        /// The shares (percent, in `truth`'s order) of the CPU time spent between `baseline` and this.
        func shares(since baseline: MeasuredTruth) -> [Double] {
            let spent = zip(nanoseconds, baseline.nanoseconds).map { $0 - $1 }
            let total = spent.reduce(0, +)
            return spent.map { total > 0 ? 100 * $0 / total : 0 }
        }
    }
    static let pythonFunctions: Set<String> = ["alpha", "Calc.beta", "beta", "gamma", "descend", "work", "main", "<module>"]
    static let evaluationFunction = "_PyEval_EvalFrameDefault"
    /// The outermost frames of the main thread and of other threads.
    static let roots: Set<String> = ["Py_BytesMain", "start_thread", "clone3", "clone"]
    /// A thread running code in a subinterpreter (Tests/Workloads/python/subinterpreter.py).
    static let subinterpreter = Interpreter(comm: "tpy-312-subint", path: "/root/.pyenv/versions/3.12.1/bin/python3.12",
                                            script: "subinterpreter.py")
    /// known_truth.py's DEPTH + 1 calls of `descend` above every unit of work.
    static let descendFrames = 13

    @Test("known truth under Debian's 3.11 and CPython 3.8-3.13: names, shares within 3 points, depth, samples.cpython.count")
    func knownTruth() async throws {
        let run = try await onOwnThread { try Self.run() }
        var failures: [String] = []
        /// Per workload: of its stacks with Python frames and a named evaluation function, the
        /// share whose native walk reached the thread's root.
        var rootShares: [String: Double] = [:]
        for interpreter in Self.interpreters {
            let workload = run.workloads[interpreter.comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(interpreter.comm)
            let total = stacks.reduce(0) { $0 + $1.count }
            var innermost: [String: Int] = [:]
            var withPython = 0
            var pythonLeaf = 0
            var unnamedLeaf = 0
            var depthMatches = 0
            var walkedNatively = 0
            var reachesRoot = 0
            var trampolines = 0
            for stack in stacks {
                let names = stack.frames.map(Self.functionName)
                guard names.contains(where: Self.pythonFunctions.contains) else { continue }
                withPython += stack.count
                // Once the interpreter's unwind table is loaded (its evaluation function is
                // named), the native walk must reach the thread's root.
                if names.contains(CPythonTests.evaluationFunction) {
                    walkedNatively += stack.count
                    if names.contains(where: CPythonTests.roots.contains) { reachesRoot += stack.count }
                }
                if names.contains(where: { $0.hasPrefix("py::") }) { trampolines += stack.count }
                if Self.pythonFunctions.contains(names.last!) { pythonLeaf += stack.count }
                // A Python frame whose code record had not come yet is named by its code
                // address only (`0x…`): a Python leaf the folded stacks cannot type.
                if Self.isBareAddress(names.last!) { unnamedLeaf += stack.count }
                if let index = names.lastIndex(where: { name in Self.truth.contains { $0.names.contains(name) } }) {
                    innermost[names[index], default: 0] += stack.count
                    // Root to leaf: the recursion, then the unit of work.
                    let descents = names[..<index].filter { $0 == "descend" }.count
                    if descents == Self.descendFrames { depthMatches += stack.count }
                }
            }
            let measured = innermost.values.reduce(0, +)
            // The truth is what the workload measured of its own CPU time in each function
            // while it was sampled (about 50/20/30 by design; a crowded 2-CPU machine moves it).
            let truthShares = workload.measuredShares
            let shares = Self.truth.enumerated().map { index, entry in
                ((names: entry.names, share: truthShares.count == 3 ? truthShares[index] : entry.share),
                 percent(Int64(entry.names.reduce(0) { $0 + (innermost[$1] ?? 0) }), of: Int64(measured)))
            }
            let metrics = try MetricPoints(file: run.metricsURL)
            let cpythonCount = metrics.sum("samples.cpython.count", pid: workload.pid) { _ in "" }.values.reduce(0, +)
            print("cpython \(interpreter.comm) (\(interpreter.path), pid \(workload.pid)): \(total) samples, "
                + "\(withPython) with Python frames (\(formatted(percent(Int64(withPython), of: Int64(total))))%; "
                + "after the first: \(workload.walk)); shares "
                + shares.map { "\($0.0.names.sorted().first!) \(formatted($0.1))% (measured \(formatted($0.0.share))%)" }
                    .joined(separator: ", ")
                + "; depth \(Self.descendFrames) in \(formatted(percent(Int64(depthMatches), of: Int64(measured))))%; "
                + "samples.cpython.count \(cpythonCount), Python leaves \(pythonLeaf) (+\(unnamedLeaf) named by address); "
                + "table-walked \(walkedNatively), reaching the root \(reachesRoot); with trampoline frames \(trampolines)")
            guard measured >= 800 else {
                failures.append("\(interpreter.comm): only \(measured) samples with a known Python function of \(total)")
                continue
            }
            if truthShares.count != 3 || truthShares.reduce(0, +) < 99 {
                failures.append("\(interpreter.comm): the workload measured no CPU time in its functions while sampled (its log: \(interpreter.comm).log)")
            }
            for (entry, share) in shares where abs(share - entry.share) > 3 {
                failures.append("\(interpreter.comm): \(entry.names.sorted()) \(formatted(share))%, truth \(formatted(entry.share))% (measured by the workload)")
            }
            if workload.walk.share < 95 {
                failures.append("\(interpreter.comm): \(workload.walk) samples with Python frames after the first one, under 95%")
            }
            if percent(Int64(depthMatches), of: Int64(measured)) < 90 {
                failures.append("\(interpreter.comm): the \(Self.descendFrames) descend frames are above the work in only \(depthMatches) of \(measured) samples")
            }
            rootShares[interpreter.comm] = percent(Int64(reachesRoot), of: Int64(walkedNatively))
            if trampolines > 0 { failures.append("\(interpreter.comm): \(trampolines) stacks show trampoline frames beside walked Python frames") }
            // Every sample with a leaf among the workload's functions counts; one whose leaf is
            // named by its address only may too, and so may one whose Python leaf lies outside
            // the workload's functions (start-up code, as the Perl and Ruby tests allow).
            if cpythonCount < Int64(pythonLeaf) || cpythonCount > Int64(pythonLeaf + unnamedLeaf + (total - measured)) {
                failures.append("\(interpreter.comm): samples.cpython.count \(cpythonCount), but \(pythonLeaf) samples with a named Python leaf, \(unnamedLeaf) with a leaf named by its address only and \(total - measured) outside the workload's functions")
            }
        }
        // The subinterpreter's frames, inside the frames of the interpreter that runs it.
        let subinterpreter = try FoldedStacks(file: run.foldedURL).process(Self.subinterpreter.comm)
        let inner = subinterpreter.filter { $0.frames.map(Self.functionName).contains("sub_leaf") }
        let nested = inner.filter { stack in
            let names = stack.frames.map(Self.functionName)
            guard let outer = names.firstIndex(of: "outer_main"), let leaf = names.lastIndex(of: "sub_leaf") else { return false }
            return outer < leaf
        }
        let innerCount = inner.reduce(0) { $0 + $1.count }, nestedCount = nested.reduce(0) { $0 + $1.count }
        print("cpython \(Self.subinterpreter.comm): \(innerCount) samples in sub_leaf, \(nestedCount) of them under outer_main")
        if innerCount < 300 || percent(Int64(nestedCount), of: Int64(innerCount)) < 95 {
            failures.append("\(Self.subinterpreter.comm): \(nestedCount) of \(innerCount) samples in the subinterpreter's sub_leaf show the main interpreter's outer_main above it")
        }
        // Perf trampolines have no CFI and no frame pointer: without their rule the native walk
        // ends at the first one (0% at the root). With it, as far as without -X perf. (Not an
        // absolute bound: tables of other files, e.g. libc, may still be on their way.)
        let perf = rootShares["tpy-312-xperf"] ?? 0, plain = rootShares["tpy-312"] ?? 0
        if perf < 50 || perf < plain - 15 {
            failures.append("tpy-312-xperf: \(formatted(perf))% of its native walks reach the root across the trampolines, tpy-312 \(formatted(plain))%")
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    /// What a workload's samples in the capture say about the walk: after its first sample
    /// with Python frames (the interpreter named to the sampler), how many have them.
    struct WalkCoverage: Sendable, CustomStringConvertible {
        var before = 0
        var after = 0
        var withFrames = 0
        var share: Double { percent(Int64(withFrames), of: Int64(after)) }
        var description: String { "\(withFrames)/\(after) = \(formatted(share))%, \(before) before" }
    }

    struct Workload: Sendable {
        var pid: Int32
        var walk = WalkCoverage()
        /// The shares the workload measured while it was sampled, in `truth`'s order.
        var measuredShares: [Double] = []
    }

    struct Run: Sendable {
        var workloads: [String: Workload]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
    }

    /// A frame named by its address alone (`0x7f…`): no symbol, no file, no code record.
    static func isBareAddress(_ name: String) -> Bool {
        name.hasPrefix("0x") && name.count > 2 && name.dropFirst(2).allSatisfy(\.isHexDigit)
    }

    /// The function part of a folded segment (`name` or `name (file:line)`).
    static func functionName(_ segment: String) -> String {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return segment }
        return String(segment[..<open.lowerBound])
    }

    static func run() throws -> Run {
        let scripts = repositoryRoot.appendingPathComponent("Tests/Workloads/python")
        for interpreter in interpreters where !FileManager.default.isExecutableFile(atPath: interpreter.path) {
            throw EndToEndFailure("\(interpreter.path) is missing: the image's pyenv and Debian's python3.11 are required (DESIGN.md)")
        }
        let session = try LiveSession(name: "cpython", frequency: 999)
        var started: [(Interpreter, ChildProcess)] = []
        var truthBaselines: [String: MeasuredTruth] = [:]
        var truthFinals: [String: MeasuredTruth] = [:]
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ interpreter: Interpreter) throws {
            // Run through a link named like the comm: the process has its name from the exec
            // on, before any sample could describe it (the workload's own prctl comes later).
            let link = binaries.appendingPathComponent(interpreter.comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: interpreter.path)
            let script = scripts.appendingPathComponent(interpreter.script).path
            let process = try ChildProcess(link, interpreter.options + [script, interpreter.comm, "\(interpreter.threads)"],
                                           log: session.directory.appendingPathComponent("\(interpreter.comm).log"))
            started.append((interpreter, process))
            try waitUntil("\(interpreter.comm) to name itself", seconds: 30) {
                guard process.isRunning else { throw EndToEndFailure("\(interpreter.comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        do {
            for interpreter in interpreters + [subinterpreter] where !interpreter.startsAfterSampler { try start(interpreter) }
            try session.start()
            for interpreter in interpreters where interpreter.startsAfterSampler { try start(interpreter) }
            let baseline = started.map { $0.1.cpuSeconds }
            // What each workload had measured when sampling began (a late one: nothing yet).
            for (interpreter, process) in started {
                truthBaselines[interpreter.comm] = interpreter.startsAfterSampler ? MeasuredTruth() : MeasuredTruth(log: process.log)
            }
            // 1.5 s of CPU each at 999 Hz: about 1,500 samples, a share's standard error under 1.3 points.
            try waitUntil("every workload to run 1.5 s on a CPU", seconds: 300) {
                zip(started, baseline).allSatisfy { $0.0.1.cpuSeconds - $0.1 >= 1.5 }
            }
            for (interpreter, process) in started { truthFinals[interpreter.comm] = MeasuredTruth(log: process.log) }
            for (_, process) in started { process.signal(SIGKILL) }
            for (interpreter, process) in started {
                try process.waitForExit(seconds: 30, interpreter.comm)
                try session.waitForExitRecord(of: process.pid)
            }
            try session.stop()
        } catch {
            for (_, process) in started { process.signal(SIGKILL) }
            session.kill()
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        var workloads: [String: Workload] = [:]
        for (interpreter, process) in started {
            let measured = (truthFinals[interpreter.comm] ?? MeasuredTruth())
                .shares(since: truthBaselines[interpreter.comm] ?? MeasuredTruth())
            workloads[interpreter.comm] = Workload(pid: process.pid, measuredShares: measured)
        }
        let comms = Dictionary(uniqueKeysWithValues: started.map { ($0.1.pid, $0.0.comm) })
        try coverage(captureDirectory: session.captureDirectory, comms: comms, into: &workloads)
        return Run(workloads: workloads, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8))
    }

    /// Reads the captures in stream order: per workload, its samples before and after the
    /// first one with Python frames, and how many of the latter have them.
    static func coverage(captureDirectory: URL, comms: [Int32: String], into workloads: inout [String: Workload]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                var walk = workloads[comm]!.walk
                if !sample.cpythonFrames.isEmpty || walk.after > 0 {
                    walk.after += 1
                    if !sample.cpythonFrames.isEmpty { walk.withFrames += 1 }
                } else {
                    walk.before += 1
                }
                workloads[comm]!.walk = walk
            }
        }
    }
}
