import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// PHP frames end to end (docs/php.md): the known-truth workload
/// (Tests/Workloads/php/known_truth.php) under Debian's php8.2 CLI, one started before the
/// sampler and one after it, on the VM and under opcache's tracing and function JIT. What
/// each must show: its functions as `function` and `Class::method`, in the CPU shares the
/// workload measured of itself, and samples.php.count equal to its samples whose leaf is a
/// PHP frame.
@Suite("PHP frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct PHPTests {
    struct Workload: Sendable {
        var comm: String
        var startsAfterSampler = false
    }

    /// How php runs the workload: the VM alone (`-n`: no ini file, so no opcache), or with
    /// opcache's JIT in one of its modes (docs/php.md, "The JIT").
    struct Mode: Sendable {
        /// The comms' prefix (a comm holds 15 characters).
        var prefix: String
        /// `opcache.jit`'s value, nil for no JIT.
        var jit: String?

        var workloads: [Workload] {
            [Workload(comm: "\(prefix)-before"), Workload(comm: "\(prefix)-after", startsAfterSampler: true)]
        }

        var arguments: [String] {
            guard let jit else { return ["-n"] }
            return ["-n", "-d", "zend_extension=opcache.so", "-d", "opcache.enable_cli=1", "-d", "opcache.jit=\(jit)",
                    "-d", "opcache.jit_buffer_size=64M"]
        }

        static let vm = Mode(prefix: "tphp")
        static let tracingJIT = Mode(prefix: "tphpjt", jit: "tracing")
        static let functionJIT = Mode(prefix: "tphpjf", jit: "function")
    }

    static let php = "/usr/bin/php8.2"
    /// The workload's functions, in `truth`'s order of its `truth alpha=… beta=… gamma=…` lines.
    static let truthFunctions = ["alpha", "Calc::beta", "Gamma::gamma"]

    /// The function part of a folded segment (`name` or `name (file:line)`), and whether the
    /// segment is a PHP frame (its file is a PHP source).
    static func parse(_ segment: String) -> (name: String, isPHP: Bool) {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return (segment, false) }
        let file = segment[open.upperBound...].split(separator: ":").first.map(String.init) ?? ""
        return (String(segment[..<open.lowerBound]), file.hasSuffix(".php") || file.hasSuffix(".php)"))
    }

    @Test("known truth under Debian's PHP 8.2: names in >= 95% of PHP samples, shares within 3 points, samples.php.count")
    func knownTruth() async throws {
        try await Self.check(.vm)
    }

    @Test("known truth under PHP 8.2's tracing JIT (opcache.jit=tracing): the same figures, no JIT frame left")
    func knownTruthTracingJIT() async throws {
        try await Self.check(.tracingJIT)
    }

    @Test("known truth under PHP 8.2's function JIT (opcache.jit=function): the same figures, no JIT frame left")
    func knownTruthFunctionJIT() async throws {
        try await Self.check(.functionJIT)
    }

    /// A frame of the JIT's code as the folded output names it: in opcache's shared memory
    /// (`/dev/zero (deleted)`, a SysV segment) by file name and offset, or by bare address.
    static func isJITCode(_ segment: String) -> Bool {
        segment.hasPrefix("zero (deleted)+") || segment.hasPrefix("SYSV") || CPythonTests.isBareAddress(segment)
    }

    static func check(_ mode: Mode) async throws {
        let run = try await onOwnThread { try Self.run(mode) }
        var failures: [String] = []
        let metrics = try MetricPoints(file: run.metricsURL)
        for workload in mode.workloads {
            let state = run.states[workload.comm]!
            let stacks = try FoldedStacks(file: run.foldedURL).process(workload.comm)
            var innermost: [String: Int] = [:]
            // Every stack's innermost PHP frame, truth function or not: where a share that
            // misses its truth went (descend, nanoseconds, {main}).
            var innermostPHP: [String: Int] = [:]
            var phpLeaf = 0
            var total = 0
            var named = 0
            var jitCode = 0
            // PHP frames with the engine's native frames rootward of them (the walk stepped
            // over the JIT code to execute_ex and on to php_execute_script).
            var throughEngine = 0
            for stack in stacks {
                total += stack.count
                let frames = stack.frames.map(Self.parse)
                if frames.contains(where: \.isPHP) { named += stack.count }
                if frames.last?.isPHP == true { phpLeaf += stack.count }
                if stack.frames.contains(where: Self.isJITCode) { jitCode += stack.count }
                if let firstPHP = frames.firstIndex(where: \.isPHP),
                   let script = stack.frames.firstIndex(of: "php_execute_script"), script < firstPHP,
                   stack.frames[script..<firstPHP].contains("execute_ex") {
                    throughEngine += stack.count
                }
                if let function = frames.last(where: { $0.isPHP && Self.truthFunctions.contains($0.name) }) {
                    innermost[function.name, default: 0] += stack.count
                }
                innermostPHP[frames.last(where: \.isPHP)?.name ?? "(none)", default: 0] += stack.count
            }
            let measured = innermost.values.reduce(0, +)
            let shares = Self.truthFunctions.map { percent(Int64(innermost[$0] ?? 0), of: Int64(measured)) }
            let phpCount = metrics.sum("samples.php.count", pid: state.pid) { _ in "" }.values.reduce(0, +)
            print("php \(workload.comm) (pid \(state.pid), jit \(mode.jit ?? "off")): \(total) samples, with PHP frames after the first: \(state.walk); "
                + zip(Self.truthFunctions, zip(shares, state.measuredShares)).map { "\($0.0) \(formatted($0.1.0))% (measured \(formatted($0.1.1))%)" }
                    .joined(separator: ", ")
                + "; samples.php.count \(phpCount), PHP leaves \(phpLeaf); with a named PHP frame \(named); with a JIT code frame \(jitCode)"
                + "; through php_execute_script;…;execute_ex \(throughEngine); JIT samples \(state.jit)")
            for heaviest in stacks.sorted(by: { $0.count > $1.count }).prefix(3) {
                print("php \(workload.comm) heavy stack (\(heaviest.count)): \(heaviest.frames.prefix(8).joined(separator: ";"));…;\(heaviest.frames.suffix(12).joined(separator: ";"))")
            }
            if mode.jit != nil, !state.jitOn {
                failures.append("\(workload.comm): the workload says opcache's JIT is off (\(mode.arguments.joined(separator: " ")))")
            }
            guard measured >= 800 else {
                failures.append("\(workload.comm): only \(measured) samples with a known function of \(total)")
                continue
            }
            if state.measuredShares.count != 3 || state.measuredShares.reduce(0, +) < 99 {
                failures.append("\(workload.comm): the workload measured no CPU time in its functions while sampled")
            } else {
                let missed = failures.count
                for (name, (share, truth)) in zip(Self.truthFunctions, zip(shares, state.measuredShares)) where abs(share - truth) > 3 {
                    failures.append("\(workload.comm): \(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
                }
                if failures.count > missed {
                    // The tail of a CI log keeps this, not the summary printed above.
                    let places = innermostPHP.sorted { $0.value > $1.value }.prefix(6).map { "\($0.key) \($0.value)" }
                    failures.append("\(workload.comm): \(total) samples, walk \(state.walk), JIT \(state.jit); innermost PHP frames: "
                        + places.joined(separator: ", "))
                }
            }
            if state.walk.share < 95 {
                failures.append("\(workload.comm): \(state.walk) samples with PHP frames after the first one, under 95%")
            }
            // Named, not only walked: samples with a named PHP frame (a function and its file),
            // of those after the first walked one.
            if percent(Int64(named), of: Int64(state.walk.after)) < 95 {
                failures.append("\(workload.comm): \(named) samples with a named PHP frame of \(state.walk.after) after the first walked one, under 95%")
            }
            // Every PHP-leaf sample counts; a leaf named by address only (its function record not come yet) may too.
            if phpCount < Int64(phpLeaf) || phpCount > Int64(phpLeaf) + Int64(total - measured) {
                failures.append("\(workload.comm): samples.php.count \(phpCount), but \(phpLeaf) samples with a PHP leaf")
            }
            // The JIT's code stands for PHP frames: none of its frames is left in place of them
            // once the walker follows the process (a sample before its first walk keeps them).
            if mode.jit != nil, percent(Int64(max(0, jitCode - state.walk.before)), of: Int64(state.walk.after)) > 5 {
                failures.append("\(workload.comm): \(jitCode) samples keep a frame of the JIT's code, \(state.walk.before) of them before the first walked one: over 5% of the \(state.walk.after) after")
            }
            // The native walk steps over the JIT code (docs/php.md, "The JIT"): samples with a
            // JIT frame reach the thread's root past it, and their PHP frames sit between
            // php_execute_script;…;execute_ex and the leaf.
            if mode.jit != nil {
                if state.jit.after < 500 || state.jit.share < 95 {
                    failures.append("\(workload.comm): \(state.jit) samples with a JIT frame reach the root past it: under 95% (or under 500 samples)")
                }
                // The folded output names them: at least as many stacks (95 %) run from
                // php_execute_script through execute_ex to their PHP frames.
                if percent(Int64(throughEngine), of: Int64(state.jit.withFrames)) < 95 {
                    failures.append("\(workload.comm): \(throughEngine) folded samples with PHP frames rootward to php_execute_script;…;execute_ex, under 95% of the \(state.jit.withFrames) JIT samples that reached the root")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    struct State: Sendable {
        var pid: Int32
        var walk = CPythonTests.WalkCoverage()
        var measuredShares: [Double] = []
        /// The workload said opcache's JIT compiles it (`ready jit=on`).
        var jitOn = false
        /// opcache's JIT buffer in the process (its `/proc/PID/maps`), nil without the JIT.
        var jitBuffer: Range<UInt64>?
        /// Samples with a frame in the JIT buffer, from the time php8.2's unwind table had
        /// reached the sampler on (`before`: earlier ones), and those that reached the root
        /// (`withFrames`: not cut, and execute_ex and its caller past the last JIT frame).
        var jit = CPythonTests.WalkCoverage()
    }

    /// opcache's JIT buffer in `pid`'s mappings: its executable `/dev/zero (deleted)` mapping.
    static func jitBuffer(pid: Int32) -> Range<UInt64>? {
        guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return nil }
        for line in maps.split(separator: "\n") where line.hasSuffix("/dev/zero (deleted)") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].contains("x") else { continue }
            let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            if bounds.count == 2, bounds[0] < bounds[1] { return bounds[0]..<bounds[1] }
        }
        return nil
    }

    struct Run: Sendable {
        var states: [String: State]
        var foldedURL: URL
        var metricsURL: URL
        var report: String
    }

    static func run(_ mode: Mode) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: php) else {
            throw EndToEndFailure("\(php) is missing: Debian's php8.2-cli package is required (scripts/install-deps.sh)")
        }
        let script = repositoryRoot.appendingPathComponent("Tests/Workloads/php/known_truth.php").path
        let session = try LiveSession(name: mode.prefix, frequency: 999)
        var started: [(Workload, ChildProcess)] = []
        var baselines: [String: CPythonTests.MeasuredTruth] = [:]
        var finals: [String: CPythonTests.MeasuredTruth] = [:]
        var jitBuffers: [String: Range<UInt64>] = [:]
        /// The stream time by which php8.2's unwind table had reached the sampler (JIT modes).
        var tablesLoaded: UInt64 = 0
        let binaries = session.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: binaries, withIntermediateDirectories: true)
        func start(_ workload: Workload) throws {
            // Through a link named like the comm: named from the exec on.
            let link = binaries.appendingPathComponent(workload.comm).path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: php)
            let process = try ChildProcess(link, mode.arguments + [script],
                                           log: session.directory.appendingPathComponent("\(workload.comm).log"))
            started.append((workload, process))
            try waitUntil("\(workload.comm) to name itself", seconds: 30) {
                guard process.isRunning else { throw EndToEndFailure("\(workload.comm) exited: \(process.log)") }
                return process.log.contains("ready")
            }
        }
        do {
            for workload in mode.workloads where !workload.startsAfterSampler { try start(workload) }
            try session.start()
            for workload in mode.workloads where workload.startsAfterSampler { try start(workload) }
            if mode.jit != nil {
                // The native walk past JIT code needs php8.2's unwind table, which a loaded
                // machine's aggregator may compile tens of seconds after the start.
                try waitUntil("php8.2's unwind table to reach the sampler (native stacks past the engine)", seconds: 400) {
                    let deep = try session.captures().reduce(into: [Int32: Int]()) { $0.merge($1.deepUserStacks, uniquingKeysWith: +) }
                    return started.allSatisfy { deep[$0.1.pid, default: 0] > 0 }
                }
                tablesLoaded = try session.captures().flatMap(\.samples).map(\.time).max() ?? 0
            }
            let baseline = started.map { $0.1.cpuSeconds }
            for (workload, process) in started {
                baselines[workload.comm] = workload.startsAfterSampler ? CPythonTests.MeasuredTruth()
                    : CPythonTests.MeasuredTruth(log: process.log)
            }
            try waitUntil("every workload to run 2 s on a CPU", seconds: 300) {
                zip(started, baseline).allSatisfy { $0.0.1.cpuSeconds - $0.1 >= 2 }
            }
            for (workload, process) in started { finals[workload.comm] = CPythonTests.MeasuredTruth(log: process.log) }
            for (workload, process) in started { jitBuffers[workload.comm] = Self.jitBuffer(pid: process.pid) }
            for (_, process) in started { process.signal(SIGKILL) }
            for (workload, process) in started {
                try process.waitForExit(seconds: 30, workload.comm)
                try session.waitForExitRecord(of: process.pid, seconds: 240)
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
            states[workload.comm] = State(pid: process.pid, measuredShares: measured,
                                          jitOn: process.log.contains("ready jit=on"), jitBuffer: jitBuffers[workload.comm])
        }
        let comms = Dictionary(uniqueKeysWithValues: started.map { ($0.1.pid, $0.0.comm) })
        try coverage(captureDirectory: session.captureDirectory, comms: comms, tablesLoaded: tablesLoaded, into: &states)
        return Run(states: states, foldedURL: session.foldedURL, metricsURL: session.metricsURL,
                   report: try String(contentsOf: session.reportURL, encoding: .utf8))
    }

    /// Per workload, in stream order: its samples before and after the first one with PHP
    /// frames, and how many of the latter have them.
    /// `tablesLoaded`: JIT samples count from this stream time on (`jit.before`: earlier ones).
    static func coverage(captureDirectory: URL, comms: [Int32: String], tablesLoaded: UInt64,
                         into states: inout [String: State]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                guard case .sample(let sample) = record, let comm = comms[sample.pid] else { continue }
                var walk = states[comm]!.walk
                let hasFrames = sample.interpreterStackKind == .php
                if hasFrames || walk.after > 0 {
                    walk.after += 1
                    if hasFrames { walk.withFrames += 1 }
                } else {
                    walk.before += 1
                }
                states[comm]!.walk = walk
                if let buffer = states[comm]!.jitBuffer, let last = sample.userStack.lastIndex(where: buffer.contains) {
                    var jit = states[comm]!.jit
                    // Stepped: execute_ex and at least its caller follow the JIT frame.
                    let stepped = last + 2 < sample.userStack.count
                    if sample.time > tablesLoaded {
                        jit.after += 1
                        if stepped && !sample.flags.contains(.userStackTruncated) { jit.withFrames += 1 }
                    } else {
                        jit.before += 1
                    }
                    states[comm]!.jit = jit
                }
            }
        }
    }
}
