import Foundation
import Testing
import WireFormat

/// tandem-aggregator, built next to the sampler.
var aggregatorBinaryPath: String {
    URL(fileURLWithPath: SamplerProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("tandem-aggregator").path
}

/// Where the workload's unwind information is.
enum UnwindInformation: String, CaseIterable, CustomTestStringConvertible {
    /// Its own `.eh_frame`, as GCC emits by default.
    case ehFrame
    /// Only `.debug_frame`, moved by `objcopy --only-keep-debug` into a zlib-compressed
    /// separate debug file that `.gnu_debuglink` names; the program is `strip -g`ped.
    case separateDebugFile

    var testDescription: String { rawValue }

    /// Builds unwind_o2 (-O2 -fomit-frame-pointer) into `directory` with its unwind information here.
    func buildWorkload(in directory: URL) throws -> String {
        switch self {
        case .ehFrame:
            return try Workload.build("unwind_o2", in: directory, extraArguments: ["-O2", "-fomit-frame-pointer"])
        case .separateDebugFile:
            let program = try Workload.build("unwind_o2", in: directory, extraArguments: [
                "-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"])
            let debugFile = program + ".debug"
            try runToCompletion("/usr/bin/objcopy", ["--only-keep-debug", "--compress-debug-sections=zlib", program, debugFile])
            try runToCompletion("/usr/bin/strip", ["-g", program])
            try runToCompletion("/usr/bin/objcopy", ["--add-gnu-debuglink=\(debugFile)", program])
            return program
        }
    }
}

extension SamplerLiveTests {
    @Suite struct UnwindTableLiveTests {
        /// A -O2 -fomit-frame-pointer program, sampled with the aggregator's unwind tables:
        /// at least 95% of its samples unwind to `_start`, whether its CFI is in its own
        /// `.eh_frame` or in its separate debug file. Frame pointers alone get next to none.
        @Test(arguments: UnwindInformation.allCases)
        func optimizedCodeWithoutFramePointersUnwindsToTheRoot(unwindInformation: UnwindInformation) throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let workload = try unwindInformation.buildWorkload(in: scratch)
            let symbols = try SymbolTable(binary: workload)
            let start = try #require(symbols.address(of: "_start"))

            let captures = scratch.appendingPathComponent("captures")
            try withAggregatorAndSampler(scratch: scratch, captures: captures) { sampler, aggregator in
                let run = try primeAndMeasure(workload: workload, symbols: symbols, start: start, captures: captures,
                                              sampler: sampler, aggregator: aggregator) { sampler.log }
                let (before, total, rooted, truncated) = (run.before, run.total, run.rooted, run.truncated)
                #expect(before < total, "\(before) samples before the tables were loaded, \(total) after")
                #expect(total >= 300, "samples of the workload: \(total)\n\(sampler.log)")
                #expect(Double(rooted) >= 0.95 * Double(total),
                        "\(rooted) of \(total) samples reach _start (\(truncated) flagged truncated, \(before) before)\n\(sampler.log)")
                #expect(truncated <= total - rooted)
                #expect(sampler.log.contains("unwind_tables_loaded="))
            }
        }
    }
}

/// The samples of `pid` with a user stack, each with whether its outermost frame is
/// in the workload's `_start`.
func samplesOf(_ pid: Int32, in records: [Record], workload: String, symbols: SymbolTable,
                       start: UInt64) -> [(sample: Sample, reachesStart: Bool)] {
    var text: Mapping?
    var result: [(sample: Sample, reachesStart: Bool)] = []
    for record in records {
        if case .mappings(let set) = record, set.pid == pid {
            text = set.mappings.first { $0.path == workload }
        }
        guard case .sample(let sample) = record, sample.pid == pid,
              let outer = sample.userStack.last, let text else { continue }
        let address = symbols.virtualAddress(fileOffset: outer &- text.start &+ text.fileOffset)
        let reachesStart = text.start <= outer && outer < text.end
            && address.map { $0 >= start && symbols.name(containing: $0) == "_start" } ?? false
        result.append((sample, reachesStart))
    }
    return result
}


/// What the measured run of an unwinding live test saw.
struct MeasuredUnwindRun {
    var records: [Record]
    /// Samples before the first that reached `_start` (the process's tables not loaded yet).
    var before = 0
    /// Samples from that one on, and of those, the ones that reached `_start` and the ones flagged truncated.
    var total = 0
    var rooted = 0
    var truncated = 0
}

/// Runs `workload` until one of its samples reaches `_start` (by then the aggregator has
/// compiled the program's and libc's tables, seconds in a debug build on a loaded
/// machine), then a measured 10-second run; stops the sampler and the aggregator and
/// counts the measured run's samples from the first that reached `_start`: the samples
/// before are the time the sampler takes to report the new process and load its mappings.
func primeAndMeasure(workload: String, symbols: SymbolTable, start: UInt64, captures: URL,
                     sampler: SamplerProcess, aggregator: Process,
                     diagnostics: () -> String) throws -> MeasuredUnwindRun {
    let capturePath = { () -> String? in
        (try? FileManager.default.contentsOfDirectory(atPath: captures.path).first)
            .map { captures.appendingPathComponent($0).path }
    }
    let priming = try Workload.start(workload, ["120"])
    defer { if priming.isRunning { kill(priming.processIdentifier, SIGKILL) } }
    var primed = false
    while !primed && priming.isRunning {
        usleep(200_000)
        guard let path = capturePath() else { continue }
        let records = try decodeCapture(path, complete: false)
        primed = samplesOf(priming.processIdentifier, in: records, workload: workload, symbols: symbols, start: start)
            .contains { $0.reachesStart }
    }
    kill(priming.processIdentifier, SIGKILL)
    priming.waitUntilExit()
    try #require(primed, "the priming run ended before any sample reached _start\n\(diagnostics())")

    let measured = try Workload.start(workload, ["10"])
    measured.waitUntilExit()
    try sampler.stop()
    kill(aggregator.processIdentifier, SIGINT)
    aggregator.waitUntilExit()

    var run = MeasuredUnwindRun(records: try decodeCapture(try #require(capturePath())))
    var loaded = false
    for (sample, reachesStart) in samplesOf(measured.processIdentifier, in: run.records, workload: workload,
                                            symbols: symbols, start: start) {
        if !loaded && !reachesStart {
            run.before += 1
            continue
        }
        loaded = true
        run.total += 1
        if sample.flags.contains(.userStackTruncated) { run.truncated += 1 }
        if reachesStart { run.rooted += 1 }
    }
    return run
}
