import Foundation
import Testing
import WireFormat

/// tandem-aggregator, built next to the sampler.
var aggregatorBinaryPath: String {
    URL(fileURLWithPath: SamplerProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("tandem-aggregator").path
}

extension SamplerLiveTests {
    @Suite struct UnwindTableLiveTests {
        /// A -O2 -fomit-frame-pointer program, sampled with the aggregator's unwind tables:
        /// at least 95% of its samples unwind to `_start`. Frame pointers alone get next to none.
        @Test func optimizedCodeWithoutFramePointersUnwindsToTheRoot() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let workload = try Workload.build("unwind_o2", in: scratch, extraArguments: ["-O2", "-fomit-frame-pointer"])
            let symbols = try SymbolTable(binary: workload)
            let start = try #require(symbols.address(of: "_start"))

            let socket = scratch.appendingPathComponent("a.sock").path
            let captures = scratch.appendingPathComponent("captures")
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
            // A first short run has the aggregator compile the program's and libc's tables;
            // the measured run then waits only for its own mappings to be loaded.
            try runToCompletion(workload, ["1"])
            let measured = try Workload.start(workload, ["10"])
            measured.waitUntilExit()
            try sampler.stop()
            kill(aggregator.processIdentifier, SIGINT)
            aggregator.waitUntilExit()

            let capture = try #require(try FileManager.default.contentsOfDirectory(atPath: captures.path).first)
            let records = try decodeCapture(captures.appendingPathComponent(capture).path)
            // Counted from the first sample that reaches the root: the samples before are
            // the time the aggregator takes to compile and send the tables (much longer in a
            // debug build; docs/benchmarks.md measures it with release builds).
            var text: Mapping?
            var loaded = false
            var before = 0
            var total = 0, rooted = 0, truncated = 0
            for record in records {
                if case .mappings(let set) = record, set.pid == measured.processIdentifier {
                    text = set.mappings.first { $0.path == workload }
                }
                guard case .sample(let sample) = record, sample.pid == measured.processIdentifier,
                      let outer = sample.userStack.last, let text else { continue }
                let reachesStart = text.start <= outer && outer < text.end
                    && outer - text.start + text.fileOffset >= start
                    && symbols.name(containing: outer - text.start + text.fileOffset) == "_start"
                if !loaded && !reachesStart {
                    before += 1
                    continue
                }
                loaded = true
                total += 1
                if sample.flags.contains(.userStackTruncated) { truncated += 1 }
                if reachesStart { rooted += 1 }
            }
            #expect(before < total, "\(before) samples before the tables were loaded, \(total) after")
            #expect(total >= 300, "samples of the workload: \(total)\n\(sampler.log)")
            #expect(Double(rooted) >= 0.95 * Double(total),
                    "\(rooted) of \(total) samples reach _start (\(truncated) flagged truncated, \(before) before)\n\(sampler.log)")
            #expect(truncated <= total - rooted)
            #expect(sampler.log.contains("unwind_tables_loaded="))
        }
    }
}
