import Foundation
import StreamDecoding
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Erlang frames end to end (docs/beam.md): the known-truth workload
/// (Tests/Workloads/erlang/known_truth.erl) under Debian's OTP 25, without flags (the JIT's
/// default frame layout, no `+JPperf`), its VM started before the sampler, and in a session of
/// its own one started after it (both VMs are `beam.smp`, which the folded output cannot tell
/// apart). What it must
/// show: its functions as `module:function/arity` in >= 95% of its samples whose leaf is JIT
/// code, in the CPU shares the workload measured of itself, with their Erlang callers down
/// to the VM's boot, each of the workload's frames with its file (known_truth.erl) and a line
/// inside its function's source lines, and samples.beam.count.
@Suite("BEAM frames on the live kernel (root; sampler and unprivileged aggregator)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct BEAMTests {
    static let escript = "/usr/bin/escript"
    /// The VM's process name: escript execs erlexec, which execs the VM in the same process.
    static let comm = "beam.smp"
    /// The workload's functions, in `truth`'s order of its `truth alpha=… beta=… gamma=…` lines.
    static let truthFunctions = ["known_truth:alpha/2", "known_truth:beta/2", "known_truth:gamma/2"]
    /// What a stack of a unit of work holds, root to leaf (descend/2 once per level).
    static let workPath = ["known_truth:rounds/2"] + Array(repeating: "known_truth:descend/2", count: 8)
        + ["known_truth:measure/1"]

    /// The workload's file as the VM names it (the module's line table keeps the base name).
    static let sourceFile = "known_truth.erl"

    /// The function part of a folded segment (`name` or `name (file:line)`), its file and its
    /// line (0: none).
    static func parse(_ segment: String) -> (name: String, file: String, line: Int) {
        guard let open = segment.range(of: " (", options: .backwards), segment.hasSuffix(")") else { return (segment, "", 0) }
        let parts = segment[open.upperBound...].dropLast().split(separator: ":")
        return (String(segment[..<open.lowerBound]), parts.first.map(String.init) ?? "",
                parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
    }

    /// The source lines of the workload's functions (from the first clause's line to the line
    /// ending the function with `.`), read from known_truth.erl: what a frame's line must lie in.
    static func sourceLines() throws -> [String: ClosedRange<Int>] {
        let lines = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/Workloads/erlang/known_truth.erl"),
                               encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var ranges: [String: ClosedRange<Int>] = [:]
        for name in truthFunctions + workPath {
            let function = String(name.dropFirst("known_truth:".count).prefix { $0 != "/" })
            guard let first = lines.firstIndex(where: { $0.hasPrefix(function + "(") }),
                  let last = lines[first...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasSuffix(".") }) else {
                throw EndToEndFailure("known_truth.erl has no function \(function) ending with `.`")
            }
            ranges[name] = (first + 1)...(last + 1)
        }
        return ranges
    }

    /// Whether a folded segment is a named Erlang frame: `module:function/arity`.
    static func isErlang(_ segment: String) -> Bool {
        let segment = parse(segment).name
        guard let slash = segment.lastIndex(of: "/"), let colon = segment.firstIndex(of: ":"), colon < slash else { return false }
        return !segment[segment.index(after: slash)...].isEmpty && segment[segment.index(after: slash)...].allSatisfy(\.isNumber)
    }

    @Test("known truth under Debian's OTP 25: names in >= 95% of JIT-leaf samples, shares within 3 points, callers, file and lines, samples.beam.count",
          arguments: [false, true])
    func knownTruth(startsAfterSampler: Bool) async throws {
        let run = try await onOwnThread { try Self.run(startsAfterSampler: startsAfterSampler) }
        var failures: [String] = []
        let metrics = try MetricPoints(file: run.metricsURL)
        let stacks = try FoldedStacks(file: run.foldedURL).process(Self.comm)
        let sourceLines = try Self.sourceLines()
        var innermost: [String: Int] = [:]
        // Work stacks whose workload frames all have known_truth.erl and a line of their function.
        var linesRight = 0
        var wrongLines: [String: Int] = [:]
        var total = 0
        var named = 0
        var erlangLeaf = 0
        var withWorkPath = 0
        for stack in stacks {
            total += stack.count
            let frames = Array(stack.frames.dropFirst())
            if frames.contains(where: Self.isErlang) { named += stack.count }
            if let leaf = frames.last, Self.isErlang(leaf) { erlangLeaf += stack.count }
            let parsed = frames.map(Self.parse)
            if let leaf = parsed.last?.name, Self.truthFunctions.contains(leaf) {
                innermost[leaf, default: 0] += stack.count
                let path = Self.workPath + [leaf]
                if parsed.count >= path.count, parsed.suffix(path.count).map(\.name) == path { withWorkPath += stack.count }
                let workload = parsed.filter { sourceLines[$0.name] != nil }
                let wrong = workload.filter { $0.file != Self.sourceFile || !sourceLines[$0.name]!.contains($0.line) }
                if wrong.isEmpty { linesRight += stack.count }
                for frame in wrong { wrongLines["\(frame.name) (\(frame.file):\(frame.line))", default: 0] += stack.count }
            }
        }
        let measured = innermost.values.reduce(0, +)
        let shares = Self.truthFunctions.map { percent(Int64(innermost[$0] ?? 0), of: Int64(measured)) }
        let beamCount = metrics.sum("samples.beam.count", pid: run.pid) { _ in "" }.values.reduce(0, +)
        print("beam (pid \(run.pid), started \(startsAfterSampler ? "after" : "before") the sampler): \(total) samples; JIT-leaf samples with Erlang frames after the first: \(run.walk); "
            + zip(Self.truthFunctions, zip(shares, run.measuredShares)).map { "\($0.0) \(formatted($0.1.0))% (measured \(formatted($0.1.1))%)" }
                .joined(separator: ", ")
            + "; samples.beam.count \(beamCount), Erlang leaves \(erlangLeaf); with a named Erlang frame \(named);"
            + " work stacks with their full caller path \(withWorkPath) of \(measured),"
            + " with every workload frame in \(Self.sourceFile) at a line of its function \(linesRight); wrong lines \(wrongLines)")
        if let heaviest = stacks.max(by: { $0.count < $1.count }) {
            print("beam heaviest stack (\(heaviest.count)): \(heaviest.frames.joined(separator: ";"))")
        }
        if measured < 800 {
            failures.append("only \(measured) samples with a known function of \(total)")
        } else {
            if run.measuredShares.count != 3 || run.measuredShares.reduce(0, +) < 99 {
                failures.append("the workload measured no CPU time in its functions while sampled")
            } else {
                for (name, (share, truth)) in zip(Self.truthFunctions, zip(shares, run.measuredShares)) where abs(share - truth) > 3 {
                    failures.append("\(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
                }
            }
            // The callers, not only the leaf: rounds/2, descend/2 ×8 and measure/1 above each unit of work.
            if percent(Int64(withWorkPath), of: Int64(measured)) < 95 {
                failures.append("\(withWorkPath) of \(measured) work stacks with rounds/2, descend/2 ×8 and measure/1 above, under 95%")
            }
            // File and line of every workload frame (leaf and callers), from the module's line table.
            if percent(Int64(linesRight), of: Int64(measured)) < 95 {
                failures.append("\(linesRight) of \(measured) work stacks with every workload frame in \(Self.sourceFile) at a line of its function, under 95% (wrong: \(wrongLines))")
            }
        }
        if run.walk.share < 95 {
            failures.append("\(run.walk) JIT-leaf samples with Erlang frames after the first one, under 95%")
        }
        // Named, not only walked: samples with a named Erlang frame, of the JIT-leaf ones after the first walked one.
        if percent(Int64(named), of: Int64(run.walk.after)) < 95 {
            failures.append("\(named) samples with a named Erlang frame of \(run.walk.after) JIT-leaf samples after the first walked one, under 95%")
        }
        // Every named Erlang leaf counts; a JIT leaf named by address only may too.
        if beamCount < Int64(erlangLeaf) || beamCount > Int64(total) {
            failures.append("samples.beam.count \(beamCount), but \(erlangLeaf) samples with a named Erlang leaf of \(total)")
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    /// cleaf_truth.erl's functions, in its `truth reverse=… multiply=… spin=…` order: two
    /// spend their time in C code the JIT code calls (a BIF and the garbage collector; bignum
    /// arithmetic), one in JIT code only.
    static let cLeafFunctions = ["cleaf_truth:reverse/2", "cleaf_truth:multiply/2", "cleaf_truth:spin/2"]
    static let cLeafPath = ["cleaf_truth:rounds/3"] + Array(repeating: "cleaf_truth:descend/3", count: 8)
        + ["cleaf_truth:measure/2"]
    /// The C functions each of the two C-bound loops calls straight from its JIT code: a
    /// sample in C below one of them belongs to that loop.
    static let cLeafCallees = ["lists_reverse_2": "cleaf_truth:reverse/2", "erts_mixed_times": "cleaf_truth:multiply/2",
                               "erts_int_rem": "cleaf_truth:multiply/2"]

    /// Stage 2 (docs/beam.md, "C leaves"): samples whose leaf is C code called from Erlang
    /// (lists:reverse/1's BIF, the garbage collector, bignum arithmetic) have their Erlang
    /// callers rootward of the C frames: >= 95% of the C samples below the loops' BIF calls
    /// that have Erlang frames have the right ones, and every function's share (innermost Erlang
    /// frame, C leaf or not, of the samples taken in the span the workload's truth measured,
    /// which starts after the first C-leaf walk anchored at a JIT return address: before it the
    /// process's unwind tables were not loaded yet) is within 3 points of the workload's own
    /// measure, and >= 95% of the samples after that walk of the thread that ran the
    /// workload have a workload frame (the VM's other threads, a second scheduler's busy wait
    /// among them, do the VM's own work).
    @Test("C leaves under Debian's OTP 25: the C samples below the workload's BIF calls have their Erlang callers, shares within 3 points")
    func cLeafKnownTruth() async throws {
        let run = try await onOwnThread { try Self.run(startsAfterSampler: false, workload: "cleaf_truth") }
        var failures: [String] = []
        let stacks = try FoldedStacks(file: run.foldedURL).process(Self.comm)
        var total = 0
        var cWithoutErlang = 0
        var cSamples = 0
        var cWithCallers = 0
        var cWrong: [String: Int] = [:]
        for stack in stacks {
            total += stack.count
            let names = stack.frames.dropFirst().map { Self.parse($0).name }
            guard let last = names.lastIndex(where: Self.isErlang) else {
                if names.contains(where: { Self.cLeafCallees[$0] != nil }) { cWithoutErlang += stack.count }
                continue
            }
            // Native frames below the innermost Erlang frame: a C leaf. OTP's own Erlang code
            // may sit between the loop and the BIF (lists:reverse/1 calls lists:reverse/2's BIF).
            guard let callee = names[(last + 1)...].first(where: { Self.cLeafCallees[$0] != nil }) else { continue }
            cSamples += stack.count
            let path = Self.cLeafPath + [Self.cLeafCallees[callee]!]
            let workload = names[...last].filter { $0.hasPrefix("cleaf_truth:") }
            if workload.suffix(path.count).elementsEqual(path) {
                cWithCallers += stack.count
            } else {
                cWrong[names[...last].suffix(3).joined(separator: ";") + " above " + callee, default: 0] += stack.count
            }
        }
        // The shares compare the samples taken in the span the truth measured: the test reads
        // the first truth only once it has seen a C-leaf walk in the capture, and a partial
        // round at either end would weigh the loop it was in.
        guard let span = run.measuredSpan else {
            throw EndToEndFailure("the workload's truth lines say no `at=` time (cleaf_truth.erl prints CLOCK_MONOTONIC)\n\(run.report.prefix(2000))")
        }
        let stream = try Self.cLeafStream(captureDirectory: run.captureDirectory, pid: run.pid, span: span)
        let measured = Self.cLeafFunctions.map { stream.innermostInSpan[$0] ?? 0 }.reduce(0, +)
        let shares = Self.cLeafFunctions.map { percent(Int64(stream.innermostInSpan[$0] ?? 0), of: Int64(measured)) }
        print("beam C leaves (pid \(run.pid)): \(total) samples; C samples below the workload's BIF calls with Erlang frames \(cSamples), with the right callers \(cWithCallers), without Erlang frames \(cWithoutErlang) (before the tables came, or skipped); "
            + "stream after the first JIT-anchored C-leaf walk: \(stream.samples) samples, \(stream.cLeafWalks) C-leaf walks, \(stream.outsideJIT) with a leaf outside JIT code; "
            + "in the truth's span of \(formatted(Double(span.upperBound - span.lowerBound) / 1e9)) s, \(measured) with a known function: "
            + zip(Self.cLeafFunctions, zip(shares, run.measuredShares)).map { "\($0.0) \(formatted($0.1.0))% (measured \(formatted($0.1.1))%)" }
                .joined(separator: ", ")
            + "; wrong \(cWrong.sorted { $0.value > $1.value }.prefix(8)); by quarter: \(stream.quarters); \(stream.noneSummary)")
        for stack in stacks.sorted(by: { $0.count > $1.count }).prefix(6) {
            print("beam C-leaf run stack (\(stack.count)): \(stack.frames.joined(separator: ";"))")
        }
        let withoutErlang = stacks.filter { !$0.frames.dropFirst().contains { Self.isErlang(Self.parse($0).name) } }
        for stack in withoutErlang.sorted(by: { $0.count > $1.count }).prefix(8) {
            print("beam C-leaf run stack without Erlang frames (\(stack.count)): \(stack.frames.suffix(8).joined(separator: ";"))")
        }
        if cSamples < 300 {
            failures.append("only \(cSamples) samples with Erlang frames in C code below the workload's BIF calls, of \(total)")
        } else if percent(Int64(cWithCallers), of: Int64(cSamples)) < 95 {
            failures.append("\(cWithCallers) of \(cSamples) C samples below the workload's BIF calls with rounds/3, descend/3 ×8, measure/2 and the calling loop above, under 95% (wrong: \(cWrong))")
        }
        let workload = stream.workloadThread
        if percent(Int64(workload.named), of: Int64(workload.samples)) < 95 {
            failures.append("\(workload.named) of \(workload.samples) samples of the workload's thread after the first JIT-anchored C-leaf walk with a workload frame, under 95% (\(stream.noneSummary); by quarter: \(stream.quarters))")
        }
        if measured < 800 {
            failures.append("only \(measured) samples with a known function in the truth's span, of \(total)")
        } else if run.measuredShares.count != 3 || run.measuredShares.reduce(0, +) < 99 {
            failures.append("the workload measured no CPU time in its functions while sampled")
        } else {
            for (name, (share, truth)) in zip(Self.cLeafFunctions, zip(shares, run.measuredShares)) where abs(share - truth) > 3 {
                failures.append("\(name) \(formatted(share))%, truth \(formatted(truth))% (measured by the workload)")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(run.report.prefix(6000))")
    }

    /// A dirty CPU scheduler's C leaves (docs/beam.md, "C leaves"): with a list of 20,000
    /// elements the garbage collections of cleaf_truth.erl's heap run on a dirty scheduler
    /// while the process waits; >= 90% of the samples below erts_execute_dirty_system_task
    /// (the native walk reached the dirty scheduler's loop) have the process's Erlang frames
    /// rootward of that loop, with rounds/3, descend/3 ×8, measure/2 and one of the three loops
    /// (mostly reverse/2, whose garbage fills the heap; a collection can fall in multiply/2),
    /// and every one without them was counted as a skipped C-leaf walk.
    @Test("dirty garbage collection under Debian's OTP 25: the collector's samples have the process's Erlang callers")
    func dirtyGarbageCollection() async throws {
        let run = try await onOwnThread { try Self.run(startsAfterSampler: false, workload: "cleaf_truth", arguments: ["20000"]) }
        let stacks = try FoldedStacks(file: run.foldedURL).process(Self.comm)
        var dirty = 0
        var withCallers = 0
        var wrong: [String: Int] = [:]
        for stack in stacks {
            let names = stack.frames.dropFirst().map { Self.parse($0).name }
            guard let loop = names.firstIndex(of: "erts_execute_dirty_system_task") else { continue }
            dirty += stack.count
            let workload = names[..<loop].filter { $0.hasPrefix("cleaf_truth:") }
            if workload.count == Self.cLeafPath.count + 1, workload.prefix(Self.cLeafPath.count).elementsEqual(Self.cLeafPath),
               Self.cLeafFunctions.contains(workload[workload.count - 1]) {
                withCallers += stack.count
            } else {
                wrong[(names.prefix(loop).suffix(2) + ["…"] + names.dropFirst(loop + 1).prefix(3) + ["…", names.last ?? ""]).joined(separator: ";"), default: 0] += stack.count
            }
        }
        let skipped = try Self.skippedCLeafWalks(captureDirectory: run.captureDirectory)
        let without = dirty - withCallers
        print("beam dirty GC (pid \(run.pid)): \(dirty) samples below erts_execute_dirty_system_task, \(withCallers) with the Erlang callers; "
            + "C-leaf walks skipped (statistics) \(skipped); wrong \(wrong.sorted { $0.value > $1.value }.prefix(6))")
        #expect(dirty >= 50, "only \(dirty) samples below erts_execute_dirty_system_task\n\(run.report.prefix(4000))")
        // A sample read while the collector moves the stack and frees the old heap (the kernel's
        // munmap in live runs) can find a stack whose scan does not reach its bottom: skipped,
        // with its native frames, and counted (0-6 % of these samples in live runs). Each one
        // without its callers must be such a counted skip.
        #expect(percent(Int64(withCallers), of: Int64(dirty)) >= 90,
                "\(withCallers) of \(dirty) dirty collector samples with \(Self.cLeafPath.joined(separator: ";")) and a loop above, under 90% (wrong: \(wrong))")
        #expect(without <= skipped,
                "\(without) dirty collector samples without their Erlang callers, but only \(skipped) C-leaf walks counted as skipped (wrong: \(wrong))")
    }

    /// The VM's samples in stream order from its first C-leaf walk anchored at a JIT return address on: how
    /// many, how many were C-leaf walks, how many had a leaf outside its JIT code, and, of those
    /// in the truth's span, how many had each function (named by the stream's function records)
    /// as the innermost Erlang frame.
    struct CLeafStream {
        var samples = 0
        var cLeafWalks = 0
        var outsideJIT = 0
        /// Samples taken in the span the workload's truth measured, by their innermost workload function.
        var innermostInSpan: [String: Int] = [:]
        /// Each sample's innermost workload function, or "none", in stream order.
        var order: [String] = []
        /// The "none" samples by what the sampler sent for them (Erlang frames of other code, or
        /// none with the leaf in JIT or in native code) and the thread's name.
        var none: [String: Int] = [:]
        /// Per thread: its samples, and those with a workload frame.
        var threads: [Int32: (samples: Int, named: Int)] = [:]

        /// The thread that ran the workload: the one with the most workload frames. The VM's
        /// other threads (a second scheduler's busy wait, async and dirty I/O threads) are the
        /// VM's own work.
        var workloadThread: (samples: Int, named: Int) {
            threads.values.max { $0.named < $1.named } ?? (0, 0)
        }

        /// Where the "none" samples come from, for a failure's message.
        var noneSummary: String {
            let kinds = none.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let byThread = threads.sorted { $0.value.samples > $1.value.samples }.prefix(6)
                .map { "tid \($0.key): \($0.value.named) of \($0.value.samples)" }.joined(separator: ", ")
            return "without a workload frame: \(kinds); with one by thread: \(byThread)"
        }

        /// The innermost functions per quarter of the stream, to tell a walk that starts late
        /// from one that misses a kind of sample.
        var quarters: String {
            let size = max(1, (order.count + 3) / 4)
            return stride(from: 0, to: order.count, by: size).map { start in
                let part = order[start..<min(start + size, order.count)]
                return Dictionary(part.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key }
                    .map { "\($0.key.replacingOccurrences(of: "cleaf_truth:", with: "")) \($0.value)" }.joined(separator: ", ")
            }.joined(separator: " | ")
        }
    }

    /// The sampler's last count of C-leaf walks skipped as untrusted (docs/beam.md, "C leaves").
    static func skippedCLeafWalks(captureDirectory: URL) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }
            .map { Int(try CaptureFollower(path: captureDirectory.appendingPathComponent($0).path).lastStatistics?[.beamCLeafWalksSkipped] ?? 0) }
            .max() ?? 0
    }

    static func cLeafStream(captureDirectory: URL, pid: Int32, span: ClosedRange<UInt64>) throws -> CLeafStream {
        var stream = CLeafStream()
        var jit: [(start: UInt64, end: UInt64)] = []
        var names: [UInt64: String] = [:]
        var started = false
        let files = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for file in files {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(file)))
            while let record = try decoder.next() {
                switch record {
                case .mappings(let mappings) where mappings.pid == pid:
                    jit = mappings.mappings.filter { $0.path.contains("memfd:") }.map { ($0.start, $0.end) }
                case .beamFunction(let function) where function.pid == pid:
                    names[function.codeInfo] = String(decoding: function.moduleName, as: UTF8.self) + ":"
                        + String(decoding: function.functionName, as: UTF8.self) + "/\(function.arity)"
                case .sample(let sample) where sample.pid == pid:
                    let frames = sample.interpreterStackKind == .beam ? sample.beamFrames : []
                    // From the first walk anchored at a JIT return address (the VM's unwind tables had come).
                    if let first = frames.first, first.isAnchor, first.pc != 0 { started = true }
                    guard started else { continue }
                    stream.samples += 1
                    stream.threads[sample.tid, default: (0, 0)].samples += 1
                    if frames.first?.isAnchor == true { stream.cLeafWalks += 1 }
                    let leafInJIT = sample.userStack.first.map { leaf in jit.contains { $0.start <= leaf && leaf < $0.end } }
                    if leafInJIT == false { stream.outsideJIT += 1 }
                    // The innermost of the workload's own frames (OTP's lists:reverse/1 may be below it).
                    if let name = frames.lazy.compactMap({ names[$0.codeInfo] }).first(where: { $0.hasPrefix("cleaf_truth:") }) {
                        if span.contains(sample.time) { stream.innermostInSpan[name, default: 0] += 1 }
                        stream.order.append(name)
                        stream.threads[sample.tid, default: (0, 0)].named += 1
                    } else {
                        stream.order.append("none")
                        let kind = !frames.isEmpty ? "other Erlang frames"
                            : leafInJIT == true ? "leaf in JIT code, no frames"
                            : sample.userStack.isEmpty ? "kernel only" : "leaf in native code, no frames"
                        stream.none["\(kind) (\(sample.threadName))", default: 0] += 1
                    }
                default:
                    break
                }
            }
        }
        return stream
    }

    /// `clock_gettime(CLOCK_MONOTONIC)`, the samples' clock, in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    struct Run: Sendable {
        var pid: Int32
        var walk = CPythonTests.WalkCoverage()
        var measuredShares: [Double] = []
        /// `CLOCK_MONOTONIC` nanoseconds from the first truth to the last the shares count, when
        /// the workload's lines say (cleaf_truth.erl).
        var measuredSpan: ClosedRange<UInt64>?
        var foldedURL: URL
        var metricsURL: URL
        var captureDirectory: URL
        var report: String
    }

    static func run(startsAfterSampler: Bool, workload: String = "known_truth", arguments: [String] = []) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: escript) else {
            throw EndToEndFailure("\(escript) is missing: Debian's erlang-nox (or erlang-base) package is required (scripts/install-deps.sh)")
        }
        let script = repositoryRoot.appendingPathComponent("Tests/Workloads/erlang/\(workload).erl").path
        let session = try LiveSession(name: "beam", frequency: 999)
        var started: ChildProcess?
        var baseline = CPythonTests.MeasuredTruth()
        var final = CPythonTests.MeasuredTruth()
        var readAt: UInt64 = 0
        func start() throws -> ChildProcess {
            let process = try ChildProcess(escript, [script] + arguments, log: session.directory.appendingPathComponent("\(workload).log"))
            started = process
            try waitUntil("the VM to report its first truth", seconds: 60) {
                guard process.isRunning else { throw EndToEndFailure("the workload exited: \(process.log)") }
                return process.log.contains("truth ")
            }
            return process
        }
        let process: ChildProcess
        do {
            if startsAfterSampler {
                try session.start()
                process = try start()
            } else {
                process = try start()
                try session.start()
            }
            if workload == "cleaf_truth" {
                // C leaves called from JIT code need the VM's unwind tables (the native walk must
                // reach the JIT code; a dirty scheduler's walk does not): measure from the first
                // C-leaf walk anchored at a JIT return address on.
                try waitUntil("a C-leaf walk anchored at a JIT return address", seconds: 900) {
                    try session.captures().contains { $0.pidsWithBEAMCallerAnchors.contains(process.pid) }
                }
            }
            let cpu = process.cpuSeconds
            baseline = CPythonTests.MeasuredTruth(log: process.log)
            try waitUntil("the VM to run 4 s on a CPU", seconds: 300) { process.cpuSeconds - cpu >= 4 }
            final = CPythonTests.MeasuredTruth(log: process.log)
            readAt = monotonicNanoseconds()
            process.signal(SIGKILL)
            try process.waitForExit(seconds: 30, "the workload")
            // The debug aggregator may run minutes behind the stream on a loaded machine.
            try session.waitForExitRecord(of: process.pid, seconds: 300)
            try session.stop()
        } catch {
            started?.signal(SIGKILL)
            session.kill()
            throw EndToEndFailure("\(error)\n\(session.logs)")
        }
        var run = Run(pid: process.pid, measuredShares: final.shares(since: baseline), foldedURL: session.foldedURL,
                      metricsURL: session.metricsURL, captureDirectory: session.captureDirectory, report: try String(contentsOf: session.reportURL, encoding: .utf8))
        run.walk = try coverage(captureDirectory: session.captureDirectory, pid: process.pid)
        if let start = baseline.takenAt, let end = final.takenAt {
            // The workload's clock must be the samples' (and the test's): its last truth was
            // taken after its first and before the test read it.
            guard start < end, end <= readAt else {
                throw EndToEndFailure("the workload's truth times \(start) and \(end) ns do not fall before the test's CLOCK_MONOTONIC \(readAt) ns: not the samples' clock")
            }
            run.measuredSpan = start...end
        }
        return run
    }

    /// In stream order, the VM's samples whose leaf is JIT code (its `memfd:` executable
    /// mapping) before and after the first one with Erlang frames, and how many of the latter
    /// have them. A leaf in C code (a BIF, the garbage collector) has none in stage 1.
    static func coverage(captureDirectory: URL, pid: Int32) throws -> CPythonTests.WalkCoverage {
        var walk = CPythonTests.WalkCoverage()
        var jit: [(start: UInt64, end: UInt64)] = []
        let names = try FileManager.default.contentsOfDirectory(atPath: captureDirectory.path).filter { $0.hasSuffix(".tndm") }.sorted()
        for name in names {
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: captureDirectory.appendingPathComponent(name)))
            while let record = try decoder.next() {
                if case .mappings(let mappings) = record, mappings.pid == pid {
                    jit = mappings.mappings.filter { $0.path.contains("memfd:") }.map { ($0.start, $0.end) }
                }
                guard case .sample(let sample) = record, sample.pid == pid, let leaf = sample.userStack.first,
                      jit.contains(where: { $0.start <= leaf && leaf < $0.end }) else { continue }
                let hasFrames = sample.interpreterStackKind == .beam
                if hasFrames || walk.after > 0 {
                    walk.after += 1
                    if hasFrames { walk.withFrames += 1 }
                } else {
                    walk.before += 1
                }
            }
        }
        return walk
    }
}
