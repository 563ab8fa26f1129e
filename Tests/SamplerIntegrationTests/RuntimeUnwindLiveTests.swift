import Foundation
import Testing
import WireFormat

/// Starts tandem-aggregator (capturing into `captures`) and a sampler connected to it with
/// room for large tables, runs `body`, and kills both if `body` left them running.
func withAggregatorAndSampler<T>(scratch: URL, captures: URL,
                                 _ body: (SamplerProcess, Process) throws -> T) throws -> T {
    let socket = scratch.appendingPathComponent("a.sock").path
    try FileManager.default.createDirectory(at: captures, withIntermediateDirectories: true)
    guard FileManager.default.isExecutableFile(atPath: aggregatorBinaryPath) else {
        throw TestFailure.setup("tandem-aggregator was not built next to the tests; run `swift build` first")
    }
    let aggregator = Process()
    aggregator.executableURL = URL(fileURLWithPath: aggregatorBinaryPath)
    aggregator.arguments = ["serve", "--socket", socket, "--capture", captures.path, "--log-level", "warning"]
    try aggregator.run()
    defer { if aggregator.isRunning { kill(aggregator.processIdentifier, SIGKILL) } }
    while !FileManager.default.fileExists(atPath: socket) {
        guard aggregator.isRunning else { throw TestFailure.setup("tandem-aggregator exited early") }
        usleep(20_000)
    }
    let sampler = try SamplerProcess(arguments: ["--socket", socket, "--samples-per-second", "99",
                                                 "--unwind-table-entries", "\(8 << 20)"], scratch: scratch)
    defer { if sampler.process.isRunning { kill(sampler.pid, SIGKILL) } }
    try sampler.waitUntilSampling()
    return try body(sampler, aggregator)
}

/// The user stacks (innermost first) of `pid`'s samples, from its first, each frame as
/// the workload's link-time address when it is in the workload's executable mapping, 0 otherwise.
func elfAddressStacks(of pid: Int32, in records: [Record], workload: String, symbols: SymbolTable) -> [[UInt64]] {
    var text: Mapping?
    var stacks: [[UInt64]] = []
    for record in records {
        if case .mappings(let set) = record, set.pid == pid {
            text = set.mappings.first { $0.path == workload }
        }
        guard case .sample(let sample) = record, sample.pid == pid else { continue }
        stacks.append(sample.userStack.map { address in
            guard let text, text.start <= address, address < text.end else { return 0 }
            return symbols.virtualAddress(fileOffset: address - text.start + text.fileOffset) ?? 0
        })
    }
    return stacks
}

/// The code of an executable's `PT_LOAD` segments, to read the call instruction before a return address.
struct ELFCode {
    var bytes: [UInt8]
    var segments: [(offset: UInt64, address: UInt64, size: UInt64)]

    init(binary: String, symbols: SymbolTable) throws {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: binary)))
        segments = symbols.segments
    }

    /// The target of the `call rel32` (e8) that ends at `returnAddress`, or nil when the
    /// five bytes before it are no such call: then `returnAddress` is no return from a direct call.
    func callTarget(returningTo returnAddress: UInt64) -> UInt64? {
        guard let segment = segments.first(where: { $0.address + 5 <= returnAddress && returnAddress <= $0.address + $0.size })
        else { return nil }
        let at = Int(segment.offset + returnAddress - segment.address) - 5
        guard at >= 0, at + 5 <= bytes.count, bytes[at] == 0xe8 else { return nil }
        let relative = Int32(bitPattern: UInt32(bytes[at + 1]) | UInt32(bytes[at + 2]) << 8
                             | UInt32(bytes[at + 3]) << 16 | UInt32(bytes[at + 4]) << 24)
        return UInt64(bitPattern: Int64(returnAddress) + Int64(relative))
    }
}

extension SamplerLiveTests {
    @Suite struct RuntimeUnwindLiveTests {
        /// A Rust program linked as rustc links by default (LLD, whose code segment is mapped
        /// from a page of the read-only segment before it): at least 95% of its samples unwind
        /// to `_start`. A mapping bias taken from the segment holding the byte at pgoff was
        /// 0x1000 short, and no sample got past its first frame or two.
        @Test(.enabled(if: Workload.rustc != nil, "needs rustc (rustup's, in ~/.cargo/bin)"))
        func rustProgramLinkedByLLDUnwindsToTheRoot() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let workload = try Workload.buildRust("unwind_rust", in: scratch)
            let symbols = try SymbolTable(binary: workload)
            let start = try #require(symbols.address(of: "_start"))
            let code = try #require(symbols.segments.first { $0.address <= start && start - $0.address < $0.size })
            try #require(code.address != code.offset, "rustc no longer links with LLD's packed layout: \(symbols.segments)")

            let captures = scratch.appendingPathComponent("captures")
            let run = try withAggregatorAndSampler(scratch: scratch, captures: captures) { sampler, aggregator in
                try primeAndMeasure(workload: workload, symbols: symbols, start: start, captures: captures,
                                    sampler: sampler, aggregator: aggregator) { sampler.log }
            }
            #expect(run.total >= 300, "samples of the workload: \(run.total) (\(run.before) before the first that reached _start)")
            #expect(Double(run.rooted) >= 0.95 * Double(run.total),
                    "\(run.rooted) of \(run.total) samples reach _start (\(run.truncated) flagged truncated, \(run.before) before)")
            #expect(run.truncated <= run.total - run.rooted)
        }

        /// A Go program spinning in runtime.main → main.main → (main.middle →) main.leaf, where
        /// leaf is frameless, started while the aggregator compiles the tables of large files
        /// (a process that maps four of the toolchain's binaries): in at least 95% of its
        /// samples in main.leaf, counted from its first sample, the next frame returns to a
        /// `call main.leaf`. A sample walked with frame pointers before the program's table is
        /// loaded reads the return address at [rbp + 8], its caller's caller's, so the leaf's
        /// caller is missing; the table came after the large files' compiles and after the
        /// symbolizer's backlog: 16% to 91% of such samples on the loaded development host.
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: Workload.goToolchain), "needs golang-go"))
        func goProgramKeepsTheCallerOfAFramelessLeafFromItsFirstSample() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let workload = try Workload.buildGo("unwind_go", in: scratch)
            let symbols = try SymbolTable(binary: workload)
            let code = try ELFCode(binary: workload, symbols: symbols)
            let leaf = try #require(symbols.address(of: "main.leaf"))
            let mapper = try Workload.build("map_and_spin", in: scratch)
            let largeFiles = Workload.largeToolchainFiles
            try #require(largeFiles.count >= 2, "no large ELF files of the toolchain found: \(largeFiles)")
            let captures = scratch.appendingPathComponent("captures")
            let capturePath = { () -> String? in
                (try? FileManager.default.contentsOfDirectory(atPath: captures.path).first)
                    .map { captures.appendingPathComponent($0).path }
            }
            let (pid, records) = try withAggregatorAndSampler(scratch: scratch, captures: captures) { sampler, aggregator in
                // Its first sample schedules the compiles of the large files' tables.
                let busy = try Workload.start(mapper, ["120"] + largeFiles)
                defer { if busy.isRunning { kill(busy.processIdentifier, SIGKILL) } }
                let deadline = Date().addingTimeInterval(120)
                var sampled = false
                while !sampled && busy.isRunning && Date() < deadline {
                    usleep(100_000)
                    guard let path = capturePath() else { continue }
                    sampled = try decodeCapture(path, complete: false).samples.contains { $0.pid == busy.processIdentifier }
                }
                try #require(sampled, "the process mapping the large files was not sampled\n\(sampler.log)")
                let measured = try Workload.start(workload, ["10"])
                measured.waitUntilExit()
                kill(busy.processIdentifier, SIGKILL)
                busy.waitUntilExit()
                try sampler.stop()
                kill(aggregator.processIdentifier, SIGINT)
                aggregator.waitUntilExit()
                return (measured.processIdentifier, try decodeCapture(try #require(capturePath())))
            }
            let stacks = elfAddressStacks(of: pid, in: records, workload: workload, symbols: symbols)
            let inLeaf = stacks.filter { $0.first.flatMap { symbols.name(containing: $0) } == "main.leaf" }
            let withCaller = inLeaf.filter { $0.count >= 2 && code.callTarget(returningTo: $0[1]) == leaf }
            #expect(inLeaf.count >= 300, "samples in main.leaf: \(inLeaf.count) of \(stacks.count)")
            #expect(Double(withCaller.count) >= 0.95 * Double(inLeaf.count),
                    "the leaf's caller is in \(withCaller.count) of the \(inLeaf.count) samples in main.leaf")
        }

        /// Erlang with BEAM's JIT (+JPperf true: frame pointers and a perf map): JIT code runs on
        /// the Erlang process's own stack and calls C on the scheduler thread's, so the walk
        /// from a C function back into JIT code, and from the bottom of the Erlang stack back to
        /// the scheduler, follows a frame pointer down to another stack. The frame-pointer step
        /// refused any rbp below rsp as a loop: nearly every stack of the program was cut
        /// (`[truncated]`) at the first such switch, below the same frames that other samples
        /// showed continuing. At most 10% of the samples in the program's Erlang code may be cut now.
        /// Whether a folded segment is an Erlang frame BEAM's walker named: `module:function/arity`.
        static func isErlangFrame(_ frame: String) -> Bool {
            // `module:function/arity`, with ` (file.erl:line)` after it where the line table has one.
            let segment = frame.range(of: " (").map { String(frame[..<$0.lowerBound]) } ?? frame
            guard let slash = segment.lastIndex(of: "/"), let colon = segment.firstIndex(of: ":"), colon < slash else { return false }
            let arity = segment[segment.index(after: slash)...]
            return !arity.isEmpty && arity.allSatisfy(\.isNumber)
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: Workload.erlang), "needs erlang-base"))
        func erlangJITStacksContinueAcrossStackSwitches() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let module = try Workload.buildErlang("unwind_erlang", in: scratch)
            let captures = scratch.appendingPathComponent("captures")
            let capturePath = { () -> String? in
                (try? FileManager.default.contentsOfDirectory(atPath: captures.path).first)
                    .map { captures.appendingPathComponent($0).path }
            }
            var runs: [Int32] = []
            defer { for pid in runs { try? FileManager.default.removeItem(atPath: "/tmp/perf-\(pid).map") } }
            try withAggregatorAndSampler(scratch: scratch, captures: captures) { sampler, aggregator in
                // Primed once a sample of the VM was walked with its tables (flagged truncated, or
                // reaching libc, the threads' root, which frame pointers alone do not), or once the
                // VM has run long enough for its tables to be compiled and sent (1,000 samples):
                // the VM's C code may never be sampled at a point that shows the tables.
                let priming = try Workload.startErlang(module, seconds: 120, scratch: scratch)
                runs.append(priming.processIdentifier)
                defer { if priming.isRunning { kill(priming.processIdentifier, SIGKILL) } }
                var primed = false
                while !primed && priming.isRunning {
                    usleep(200_000)
                    guard let path = capturePath() else { continue }
                    var libc: Mapping?
                    var samples = 0
                    for record in try decodeCapture(path, complete: false) {
                        if case .mappings(let set) = record, set.pid == priming.processIdentifier {
                            libc = set.mappings.first { $0.path.hasSuffix("/libc.so.6") }
                        }
                        guard case .sample(let sample) = record, sample.pid == priming.processIdentifier,
                              let outer = sample.userStack.last else { continue }
                        samples += 1
                        if samples >= 1000 || sample.flags.contains(.userStackTruncated)
                            || libc.map({ $0.start <= outer && outer < $0.end && sample.userStack.count > 4 }) ?? false {
                            primed = true
                        }
                    }
                }
                kill(priming.processIdentifier, SIGKILL)
                priming.waitUntilExit()
                try #require(primed, "the priming run ended before a sample of the VM was walked with tables\n\(sampler.log)")
                let measured = try Workload.startErlang(module, seconds: 10, scratch: scratch)
                runs.append(measured.processIdentifier)
                measured.waitUntilExit()
                try sampler.stop()
                kill(aggregator.processIdentifier, SIGINT)
                aggregator.waitUntilExit()
            }
            // The folded stacks of the capture name the JIT frames from the VM's perf map.
            let folded = scratch.appendingPathComponent("folded").path
            let metrics = scratch.appendingPathComponent("metrics.jsonl").path
            try runToCompletion(aggregatorBinaryPath, ["replay", "--folded", folded, "--metrics-out", metrics,
                                                       "--log-level", "error", try #require(capturePath())])
            var inErlang = 0
            var cut = 0
            var jitLeaves = 0
            for line in try String(contentsOfFile: folded, encoding: .utf8).split(separator: "\n")
            where line.hasPrefix("beam.smp;") {
                let count = Int(line.split(separator: " ").last ?? "") ?? 0
                let stack = line[..<(line.lastIndex(of: " ") ?? line.endIndex)]
                // A JIT leaf: named by the perf map (`$module:function/arity`), or replaced by
                // the Erlang frames BEAM's walker names (`module:function/arity`, docs/beam.md).
                if let leaf = stack.split(separator: ";").last, leaf.hasPrefix("$") || Self.isErlangFrame(String(leaf)) {
                    jitLeaves += count
                }
                guard line.contains("unwind_erlang:mix/2") else { continue }
                inErlang += count
                if line.contains(";[truncated];") { cut += count }
            }
            #expect(inErlang >= 300, "samples in unwind_erlang:mix/2: \(inErlang)")
            #expect(Double(cut) <= 0.1 * Double(inErlang), "\(cut) of \(inErlang) samples in unwind_erlang:mix/2 are [truncated]")
            // Samples whose leaf is JIT code the perf map or the walker names count as BEAM's,
            // not native (docs/jit-frames.md, docs/beam.md); so may unnamed ones.
            let beam = try otlpSum(metrics, "samples.beam.count")
            print("beam.smp: \(jitLeaves) samples with a JIT leaf named by the perf map or the walker; samples.beam.count \(beam)")
            #expect(jitLeaves >= 100, "samples of beam.smp with a JIT leaf: \(jitLeaves)")
            #expect(beam >= Int64(jitLeaves), "samples.beam.count \(beam), samples of beam.smp with a JIT leaf \(jitLeaves)")
        }
    }
}

/// The sum of a metric's data points over every resource of an OTLP JSON lines file
/// (what `replay --metrics-out` writes).
func otlpSum(_ path: String, _ metric: String) throws -> Int64 {
    var sum: Int64 = 0
    for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
        let request = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        for resource in request["resourceMetrics"] as? [[String: Any]] ?? [] {
            for scope in resource["scopeMetrics"] as? [[String: Any]] ?? [] {
                for entry in scope["metrics"] as? [[String: Any]] ?? [] where entry["name"] as? String == metric {
                    let data = (entry["sum"] ?? entry["gauge"]) as? [String: Any] ?? [:]
                    for point in data["dataPoints"] as? [[String: Any]] ?? [] {
                        sum += Int64(point["asInt"] as? String ?? "") ?? 0
                    }
                }
            }
        }
    }
    return sum
}
