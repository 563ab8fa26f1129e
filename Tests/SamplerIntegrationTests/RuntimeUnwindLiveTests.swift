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

/// The user stacks (innermost first) of `pid`'s samples, each frame named from `symbols`
/// when it is in the workload's executable mapping, "?" otherwise.
func namedStacks(of pid: Int32, in records: [Record], workload: String, symbols: SymbolTable) -> [[String]] {
    var text: Mapping?
    var stacks: [[String]] = []
    for record in records {
        if case .mappings(let set) = record, set.pid == pid {
            text = set.mappings.first { $0.path == workload }
        }
        guard case .sample(let sample) = record, sample.pid == pid, let text else { continue }
        stacks.append(sample.userStack.map { address in
            guard text.start <= address, address < text.end,
                  let elfAddress = symbols.virtualAddress(fileOffset: address - text.start + text.fileOffset)
            else { return "?" }
            return symbols.name(containing: elfAddress) ?? "?"
        })
    }
    return stacks
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
        /// leaf is frameless: with the Go binary's table loaded, main.main is in at least 95% of
        /// the samples that reach runtime.main. Until the table is loaded the frame-pointer walk
        /// reads the return address at [rbp + 8], which in a frameless leaf is its caller's: the
        /// caller (main.main or main.middle) is missing from those stacks.
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: Workload.goToolchain), "needs golang-go"))
        func goProgramKeepsTheCallerOfAFramelessLeaf() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let workload = try Workload.buildGo("unwind_go", in: scratch)
            let symbols = try SymbolTable(binary: workload)
            let captures = scratch.appendingPathComponent("captures")
            let capturePath = { () -> String? in
                (try? FileManager.default.contentsOfDirectory(atPath: captures.path).first)
                    .map { captures.appendingPathComponent($0).path }
            }
            // Only a table walk finds main.middle as a caller of the frameless main.leaf.
            let walkedWithTable = { (stack: [String]) in stack.count >= 2 && stack[0] == "main.leaf" && stack[1] == "main.middle" }
            let stacks = try withAggregatorAndSampler(scratch: scratch, captures: captures) { sampler, aggregator -> [[String]] in
                let priming = try Workload.start(workload, ["120"])
                defer { if priming.isRunning { kill(priming.processIdentifier, SIGKILL) } }
                var primed = false
                while !primed && priming.isRunning {
                    usleep(200_000)
                    guard let path = capturePath() else { continue }
                    primed = namedStacks(of: priming.processIdentifier, in: try decodeCapture(path, complete: false),
                                         workload: workload, symbols: symbols).contains(where: walkedWithTable)
                }
                kill(priming.processIdentifier, SIGKILL)
                priming.waitUntilExit()
                try #require(primed, "the priming run ended before the Go program's table was used\n\(sampler.log)")
                let measured = try Workload.start(workload, ["10"])
                measured.waitUntilExit()
                try sampler.stop()
                kill(aggregator.processIdentifier, SIGINT)
                aggregator.waitUntilExit()
                let all = namedStacks(of: measured.processIdentifier, in: try decodeCapture(try #require(capturePath())),
                                      workload: workload, symbols: symbols)
                // From the first sample walked with the table: the ones before are the time the
                // sampler takes to report the new process and load its set.
                return Array(all.drop { !walkedWithTable($0) })
            }
            let reachingRuntimeMain = stacks.filter { $0.contains("runtime.main") }
            let withMain = reachingRuntimeMain.filter { $0.contains("main.main") }
            #expect(reachingRuntimeMain.count >= 300, "samples reaching runtime.main: \(reachingRuntimeMain.count) of \(stacks.count)")
            #expect(Double(withMain.count) >= 0.95 * Double(reachingRuntimeMain.count),
                    "main.main in \(withMain.count) of \(reachingRuntimeMain.count) samples that reach runtime.main")
        }

        /// Erlang with BEAM's JIT (+JPperf true: frame pointers and a perf map): JIT code runs on
        /// the Erlang process's own stack and calls C on the scheduler thread's, so the walk
        /// from a C function back into JIT code, and from the bottom of the Erlang stack back to
        /// the scheduler, follows a frame pointer down to another stack. The frame-pointer step
        /// refused any rbp below rsp as a loop: nearly every stack of the program was cut
        /// (`[truncated]`) at the first such switch, below the same frames that other samples
        /// showed continuing. At most 10% of the samples in the program's Erlang code may be cut now.
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
            try runToCompletion(aggregatorBinaryPath, ["replay", "--folded", folded, "--metrics-out", "/dev/null",
                                                       "--log-level", "error", try #require(capturePath())])
            var inErlang = 0
            var cut = 0
            for line in try String(contentsOfFile: folded, encoding: .utf8).split(separator: "\n")
            where line.hasPrefix("beam.smp;") && line.contains("$unwind_erlang:mix/2") {
                let count = Int(line.split(separator: " ").last ?? "") ?? 0
                inErlang += count
                if line.contains(";[truncated];") { cut += count }
            }
            #expect(inErlang >= 300, "samples in unwind_erlang:mix/2: \(inErlang)")
            #expect(Double(cut) <= 0.1 * Double(inErlang), "\(cut) of \(inErlang) samples in unwind_erlang:mix/2 are [truncated]")
        }
    }
}
