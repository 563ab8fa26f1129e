import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Ruby frames end to end (docs/ruby.md): the known-truth workload
/// (Tests/Workloads/ruby/known_truth.rb) under Debian's ruby 3.1, one started before the
/// sampler and one after it. What each must show: its methods by name with file and line, in
/// the CPU shares the workload measures itself, under the recursion that called them, typed
/// `ruby`, the C method Kernel#loop between `<main>` and its block at its caller's line (as
/// Ruby's backtraces show it), and samples.ruby.count counting every sample whose leaf is one of its methods (and
/// no more than the samples whose leaf may be an untyped Ruby frame).
@Suite("Ruby frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct RubyTests {
    struct Interpreter: Sendable {
        var comm: String
        var startsAfterSampler = false
    }

    static let rubyPath = "/usr/bin/ruby"
    static let interpreters = [Interpreter(comm: "trb-early"), Interpreter(comm: "trb-late", startsAfterSampler: true)]
    /// The workload's methods, in the order of its `truth` line: 5, 2 and 3 units of work by design.
    static let truth: [(name: String, share: Double)] = [("alpha", 50), ("beta", 20), ("gamma", 30)]
    /// The C methods the workload calls (Kernel#loop, Process.clock_gettime): `ruby` frames at
    /// their caller's file and line. A native frame may have the same name (libc's
    /// clock_gettime), without the workload's file.
    static let cMethods: Set<String> = ["loop", "clock_gettime"]
    /// The workload's Ruby methods and the C methods it calls.
    static let rubyMethods: Set<String> = Set(["alpha", "beta", "gamma", "descend", "clock", "block in <main>", "<main>"])
        .union(cMethods)
    /// A folded segment naming one of the workload's methods (a C method only at the workload's file).
    static func isWorkloadFrame(_ segment: String) -> Bool {
        let name = CPythonTests.functionName(segment)
        return rubyMethods.contains(name) && (!cMethods.contains(name) || segment.contains("(known_truth.rb:"))
    }

    /// Root first, as the folded stacks list them: `<main>` calls Kernel#loop (a C method) at
    /// known_truth.rb:81, which runs the block; `ruby -e 'loop { puts caller(0) }'` prints the same three.
    static let rootFrames = ["<main>", "loop", "block in <main>"]
    static let loopFrame = "loop (known_truth.rb:81)"
    /// known_truth.rb's DEPTH + 1 calls of `descend` above every unit of work.
    static let descendFrames = 13

    @Test("known truth under Debian's ruby 3.1: names in >= 95% of Ruby samples, shares within 3 points, depth, samples.ruby.count")
    func knownTruth() async throws {
        let run = try await onOwnThread { try Self.run() }
        var failures: [String] = []
        for interpreter in Self.interpreters {
            let workload = run.workloads[interpreter.comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(interpreter.comm)
            let total = stacks.reduce(0) { $0 + $1.count }
            var innermost: [String: Int] = [:]
            var withRuby = 0, rubyLeaf = 0, unnamedLeaf = 0, depthMatches = 0, located = 0, underLoop = 0
            for stack in stacks {
                let names = stack.frames.map(CPythonTests.functionName)
                guard stack.frames.contains(where: Self.isWorkloadFrame) else { continue }
                withRuby += stack.count
                if Self.isWorkloadFrame(stack.frames.last!) { rubyLeaf += stack.count }
                // A Ruby frame whose iseq record had not come yet is named by its address
                // only (`0x…`): a Ruby leaf the folded stacks cannot type.
                if CPythonTests.isBareAddress(names.last!) { unnamedLeaf += stack.count }
                if let index = names.lastIndex(where: { name in Self.truth.contains { $0.name == name } }) {
                    innermost[names[index], default: 0] += stack.count
                    if names[..<index].filter({ $0 == "descend" }).count == Self.descendFrames { depthMatches += stack.count }
                    // Named with its file and a line inside the method (alpha 14-23, beta 26-35, gamma 39-49).
                    if stack.frames[index].contains("(known_truth.rb:") { located += stack.count }
                    // The C method between its Ruby caller and callee, at its caller's line.
                    let rubyNames = names.filter(Self.rubyMethods.contains)
                    if Array(rubyNames.prefix(3)) == Self.rootFrames,
                       stack.frames.contains(where: { $0.hasSuffix(Self.loopFrame) }) { underLoop += stack.count }
                }
            }
            let measured = innermost.values.reduce(0, +)
            let shares = Self.truth.enumerated().map { index, entry in
                (entry.name, workload.measuredShares.count == 3 ? workload.measuredShares[index] : entry.share,
                 percent(Int64(innermost[entry.name] ?? 0), of: Int64(measured)))
            }
            let metrics = try MetricPoints(file: run.metricsURL)
            let rubyCount = metrics.sum("samples.ruby.count", pid: workload.pid) { _ in "" }.values.reduce(0, +)
            print("ruby \(interpreter.comm) (pid \(workload.pid)): \(total) samples, \(withRuby) with Ruby frames "
                + "(after the first: \(workload.walk)); shares "
                + shares.map { "\($0.0) \(formatted($0.2))% (measured \(formatted($0.1))%)" }.joined(separator: ", ")
                + "; depth \(Self.descendFrames) in \(formatted(percent(Int64(depthMatches), of: Int64(measured))))%; "
                + "with file and line \(located); under <main> > loop (known_truth.rb:81) > block in <main> "
                + "\(formatted(percent(Int64(underLoop), of: Int64(measured))))%; samples.ruby.count \(rubyCount), Ruby leaves \(rubyLeaf) (+\(unnamedLeaf) named by address)")
            guard measured >= 800 else {
                failures.append("\(interpreter.comm): only \(measured) samples with a known Ruby method of \(total)")
                continue
            }
            for (name, truth, share) in shares where abs(share - truth) > 3 {
                failures.append("\(interpreter.comm): \(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
            }
            if workload.walk.share < 95 {
                failures.append("\(interpreter.comm): \(workload.walk) samples with Ruby frames after the first one, under 95%")
            }
            if percent(Int64(depthMatches), of: Int64(measured)) < 90 {
                failures.append("\(interpreter.comm): the \(Self.descendFrames) descend frames are above the work in only \(depthMatches) of \(measured) samples")
            }
            if percent(Int64(underLoop), of: Int64(measured)) < 90 {
                failures.append("\(interpreter.comm): the C method loop (known_truth.rb:81) is between <main> and its block in only \(underLoop) of \(measured) samples")
            }
            if located < measured { failures.append("\(interpreter.comm): \(measured - located) samples name the method without its file and line") }
            // Stacks without the workload's methods (rubygems loading as the process starts)
            // may have a Ruby leaf too; the folded stacks do not type it.
            if rubyCount < Int64(rubyLeaf) || rubyCount > Int64(rubyLeaf + unnamedLeaf + total - withRuby) {
                failures.append("\(interpreter.comm): samples.ruby.count \(rubyCount), but \(rubyLeaf) samples with a named Ruby leaf of the workload, "
                    + "\(unnamedLeaf) with a leaf named by its address only and \(total - withRuby) without the workload's methods")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    struct Workload: Sendable {
        var pid: Int32
        var walk = CPythonTests.WalkCoverage()
        var measuredShares: [Double] = []
    }

    struct Run: Sendable {
        var workloads: [String: Workload]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
    }

    static func run() throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: rubyPath) else {
            throw EndToEndFailure("\(rubyPath) is missing: apt-get install ruby (scripts/install-deps.sh)")
        }
        let script = repositoryRoot.appendingPathComponent("Tests/Workloads/ruby/known_truth.rb").path
        let session = try LiveSession(name: "ruby", frequency: 999)
        var started: [(Interpreter, ChildProcess)] = []
        var baselines: [String: CPythonTests.MeasuredTruth] = [:]
        var finals: [String: CPythonTests.MeasuredTruth] = [:]
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ interpreter: Interpreter) throws {
            // Run through a link named like the comm: the process has its name from the exec on.
            let link = binaries.appendingPathComponent(interpreter.comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: rubyPath)
            let process = try ChildProcess(link, [script, interpreter.comm],
                                           log: session.directory.appendingPathComponent("\(interpreter.comm).log"))
            started.append((interpreter, process))
            try waitUntil("\(interpreter.comm) to start", seconds: 30) {
                guard process.isRunning else { throw EndToEndFailure("\(interpreter.comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        do {
            for interpreter in interpreters where !interpreter.startsAfterSampler { try start(interpreter) }
            try session.start()
            for interpreter in interpreters where interpreter.startsAfterSampler { try start(interpreter) }
            let baseline = started.map { $0.1.cpuSeconds }
            for (interpreter, process) in started {
                baselines[interpreter.comm] = interpreter.startsAfterSampler ? .init() : .init(log: process.log)
            }
            // 4 s of CPU each at 999 Hz: about 4,000 samples, of which the first second or so may
            // come before the VM is named (its libruby table compiled on a crowded machine).
            try waitUntil("every workload to run 4 s on a CPU", seconds: 300) {
                zip(started, baseline).allSatisfy { $0.0.1.cpuSeconds - $0.1 >= 4 }
            }
            for (interpreter, process) in started { finals[interpreter.comm] = .init(log: process.log) }
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
            let shares = (finals[interpreter.comm] ?? .init()).shares(since: baselines[interpreter.comm] ?? .init())
            workloads[interpreter.comm] = Workload(pid: process.pid, measuredShares: shares)
        }
        let comms = Dictionary(uniqueKeysWithValues: started.map { ($0.1.pid, $0.0.comm) })
        try coverage(captureDirectory: session.captureDirectory, comms: comms, into: &workloads)
        return Run(workloads: workloads, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8))
    }

    /// Per workload: its samples before and after the first one with Ruby frames, and how many of the latter have them.
    static func coverage(captureDirectory: URL, comms: [Int32: String], into workloads: inout [String: Workload]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                let hasFrames = Self.hasRubyFrames(sample)
                var walk = workloads[comm]!.walk
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

    /// Whether the sample carries Ruby frames: an interpreter stack of kind `ruby`.
    static func hasRubyFrames(_ sample: Sample) -> Bool {
        sample.interpreterStackKind == .ruby
    }
}
