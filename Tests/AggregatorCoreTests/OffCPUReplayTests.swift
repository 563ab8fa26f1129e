import AggregatorCore
import Configuration
import Foundation
import Testing
import WireFormat

/// A real off-CPU capture (scripts/make-off-cpu-replay-fixture.sh: a program that computes
/// 30 ms and sleeps 70 ms in turn, every switch off the CPU recorded) replayed into every
/// output: the off-CPU folded stacks, pprof, flame graph and report agree with the run's
/// counters, and the OTLP profiles' second profile folds to the same stacks and nanoseconds.
@Suite struct OffCPUReplayTests {
    static let capture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/off-cpu.tndm")
    static let peer = ProfilesPipelineTests.peers.appendingPathComponent("otlp_profiles_peer.py").path

    struct Replayed {
        var summary: RunSummary
        var outputs: OutputPaths
        var profilesLines: String
    }

    /// Replays the fixture with `--output-dir` and a `file` exporter in the profiles pipeline.
    static func replay() throws -> Replayed {
        let directory = try temporaryDirectory()
        let lines = directory + "/profiles.jsonl"
        let configuration = try ProfilesPipelineTests.configuration(profilesExporter: """
              file/profiles:
                path: \(lines)
            """, directory: directory)
        var outputs = OutputPaths.all(in: directory + "/out")
        outputs.metrics = nil
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: outputs, logger: quietLogger)
        let stream = StreamPipeline(runtime: runtime, logger: quietLogger)
        try stream.consume(try [UInt8](Data(contentsOf: capture))[...])
        stream.finish(error: nil)
        try runtime.shutdown()
        return Replayed(summary: runtime.summary, outputs: outputs, profilesLines: lines)
    }

    static func read(_ path: String?) throws -> String {
        try String(contentsOfFile: try #require(path), encoding: .utf8)
    }

    /// The sum of the counts of folded stacks.
    static func total(_ folded: String) -> UInt64 {
        folded.split(separator: "\n").reduce(0) { $0 + (UInt64($1.split(separator: " ").last ?? "") ?? 0) }
    }

    @Test func foldedStacksAccountForEveryOffCPUNanosecond() throws {
        let replayed = try Self.replay()
        let summary = replayed.summary
        #expect(summary.offCPUSamples > 0)
        #expect(summary.offCPUNanoseconds > 0)
        let offCPU = try Self.read(replayed.outputs.offCPUFolded)
        #expect(Self.total(offCPU) == summary.offCPUNanoseconds)
        // The on-CPU profile has the other samples, and none of the switches' stacks.
        let onCPU = try Self.read(replayed.outputs.folded)
        #expect(Self.total(onCPU) == UInt64(summary.samples - summary.offCPUSamples))
        #expect(!onCPU.contains("__schedule"))
        // Each wait ends where the thread waits: the scheduler, not the tracepoint's or the
        // BPF program's own frames above it.
        let stacks = offCPU.split(separator: "\n").map { $0.split(separator: " ").dropLast().joined(separator: " ") }
        #expect(!stacks.isEmpty && stacks.allSatisfy { $0.hasSuffix(";__schedule") }, "\(stacks.prefix(3))")
        // The program's sleeps are there, through the kernel's nanosleep.
        #expect(offCPU.contains("do_nanosleep;schedule;__schedule"))
    }

    @Test func pprofTotalIsTheOffCPUTime() throws {
        let replayed = try Self.replay()
        let path = try #require(replayed.outputs.offCPUPprof)
        let raw = try Self.goPprof(["-raw", path])
        #expect(raw.contains("events/count off_cpu/nanoseconds"))
        let top = try Self.goPprof(["-top", "-unit=ns", "-sample_index=off_cpu", path])
        #expect(top.contains("of \(replayed.summary.offCPUNanoseconds)ns total"))
        let events = try Self.goPprof(["-top", "-sample_index=events", path])
        #expect(events.contains("of \(replayed.summary.offCPUSamples) total"))
    }

    @Test func flameGraphAndReportShowTheWaits() throws {
        let replayed = try Self.replay()
        let svg = try Self.read(replayed.outputs.offCPUFlameGraph)
        #expect(svg.contains("off-CPU"))
        #expect(svg.contains(", \(replayed.summary.offCPUSamples) waits · "))
        let milliseconds = Double(replayed.summary.offCPUNanoseconds) / 1e6
        #expect(svg.contains(String(format: "%.2f ms", milliseconds)))
        let report = try Self.read(replayed.outputs.report)
        #expect(report.contains("Where threads wait: top 10 user functions by time off the CPU:"))
        #expect(report.contains("Where threads wait: top 10 kernel functions that called the scheduler:"))
        // The program sleeps 70% of its time: do_nanosleep leads, preemptions follow.
        let kernelSection = try #require(report.components(separatedBy: "called the scheduler:\n").last)
        let firstRow = try #require(kernelSection.split(separator: "\n").dropFirst().first)
        #expect(firstRow.hasSuffix("do_nanosleep"))
    }

    @Test func otlpSecondProfileFoldsToTheOffCPUFoldedStacks() throws {
        let replayed = try Self.replay()
        let offCPU = try Self.read(replayed.outputs.offCPUFolded)
        #expect(!offCPU.isEmpty)
        #expect(try PythonPeer.run(Self.peer, ["folded", replayed.profilesLines, "--off-cpu"]) == offCPU)
        // The on-CPU profile keeps only the on-CPU samples.
        #expect(try PythonPeer.run(Self.peer, ["folded", replayed.profilesLines]) == Self.read(replayed.outputs.folded))
    }

    /// `go tool pprof` (Debian package golang-go) on `arguments`; its standard output.
    static func goPprof(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["go", "tool", "pprof", "-symbolize=none"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "go tool pprof failed (apt-get install -y golang-go)")
        return String(decoding: data, as: UTF8.self)
    }
}

extension OffCPUReplayTests {
    /// Waits of `UInt64.max` ns, as a hostile sampler could send: every output is written,
    /// the sums hold at their maximum, nothing traps.
    @Test func hugeWaitsDoNotTrapTheOutputs() throws {
        var encoder = StreamEncoder(header: SyntheticStream.header)
        encoder.append(.kernelSymbols(KernelSymbols(symbols: SyntheticStream.kernelSymbols)))
        encoder.append(.process(WireFormat.ProcessInfo(pid: 4242, parentPID: 1, startTime: 0, comm: "synthetic",
                                                       executablePath: "/nonexistent/synthetic", cgroupPath: "/")))
        var time = SyntheticStream.header.clock.monotonicNanoseconds
        for _ in 0..<3 {
            time += 10_000_000
            encoder.appendSample(time: time, pid: 4242, tid: 4243, cpu: 0, kernelStack: SyntheticStream.futexStack,
                                 userStack: [], offCPUNanoseconds: .max)
        }
        encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished)))
        let directory = try temporaryDirectory()
        let configuration = try ProfilesPipelineTests.configuration(profilesExporter: """
              file/profiles:
                path: \(directory)/profiles.jsonl
            """, directory: directory)
        var outputs = OutputPaths.all(in: directory + "/out")
        outputs.metrics = nil
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: outputs, logger: quietLogger)
        let stream = StreamPipeline(runtime: runtime, logger: quietLogger)
        try stream.consume(encoder.takeBytes()[...])
        stream.finish(error: nil)
        try runtime.shutdown()
        #expect(runtime.summary.offCPUSamples == 3)
        #expect(runtime.summary.offCPUNanoseconds == .max)
        #expect(try Self.read(outputs.offCPUFolded).hasSuffix(" \(Int64.max)\n"))
        #expect(try Self.read(outputs.report).contains("Where threads wait"))
        #expect(try PythonPeer.run(Self.peer, ["folded", directory + "/profiles.jsonl", "--off-cpu"])
                .contains("futex_wait"))
    }
}
