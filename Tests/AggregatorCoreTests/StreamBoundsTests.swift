import AggregatorCore
import Configuration
import Foundation
import Testing
import WireFormat

/// A stream (a buggy or compromised sampler) cannot make the aggregator hold more than
/// its limits: the excess is dropped, counted and logged once, the rest is intact, and
/// what the pipeline holds is bounded (counted in entries, not bytes).
@Suite struct StreamBoundsTests {
    /// The seed configuration with `receiver` and `connector` settings added.
    static func configuration(receiver: String = "", connector: String = "", metrics: String) throws -> CollectorConfiguration {
        try CollectorConfiguration(yaml: """
            receivers:
              profiling:
                samples_per_second: 99
            \(receiver.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            connectors:
              profilingmetrics:
                flush_interval: 10s
            \(connector.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            exporters:
              file:
                path: \(metrics)
            service:
              pipelines:
                profiles: { receivers: [profiling], exporters: [profilingmetrics] }
                metrics: { receivers: [profilingmetrics], exporters: [file] }
            """)
    }

    /// `count` processes, each described (pid 1000 + i), mapped with `mappingsEach`
    /// mappings and sampled once in user space, all in one window.
    static func processFlood(count: Int, mappingsEach: Int = 1, kernelSymbols: [KernelSymbol] = SyntheticStream.kernelSymbols,
                             endOfStream: Bool = true, controlVersion: UInt64 = 0) -> [UInt8] {
        var header = SyntheticStream.header
        header.controlVersion = controlVersion
        var encoder = StreamEncoder(header: header)
        encoder.append(.kernelSymbols(KernelSymbols(symbols: kernelSymbols)))
        var time = SyntheticStream.header.clock.monotonicNanoseconds
        for index in 0..<count {
            let pid = Int32(1000 + index)
            encoder.append(.process(ProcessInfo(pid: pid, parentPID: 1, startTime: UInt64(index + 1), comm: "p\(index)",
                                                executablePath: "/nonexistent/p\(index)", cgroupPath: "/")))
            encoder.append(.mappings(Mappings(pid: pid, mappings: (0..<mappingsEach).map { slot in
                Mapping(start: 0x5555_0000_0000 + UInt64(slot) << 20, end: 0x5555_0001_0000 + UInt64(slot) << 20,
                        fileOffset: 0, device: 0, inode: UInt64(slot + 1), path: "/nonexistent/p\(index)")
            })))
            time += 1_000_000
            encoder.appendSample(time: time, pid: pid, tid: pid, cpu: 0, kernelStack: SyntheticStream.futexStack,
                                 userStack: SyntheticStream.userStack)
        }
        if endOfStream { encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished))) }
        return encoder.takeBytes()
    }

    /// Feeds `bytes` to a pipeline; returns it (not finished unless `finish`), the runtime and the log.
    static func run(_ bytes: [UInt8], configuration: CollectorConfiguration, finish: Bool = true)
        throws -> (StreamPipeline, AggregatorRuntime, RecordedLog) {
        let log = RecordedLog()
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: OutputPaths(), logger: log.logger)
        let pipeline = StreamPipeline(runtime: runtime, logger: log.logger)
        try pipeline.consume(bytes[...])
        if finish {
            pipeline.finish(error: nil)
            try runtime.shutdown()
        }
        return (pipeline, runtime, log)
    }

    @Test func processesPastMaxProcessesPerWindowAreDroppedCountedAndLoggedOnce() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        let configuration = try Self.configuration(connector: "max_processes_per_window: 50", metrics: metrics)
        let (pipeline, runtime, log) = try Self.run(Self.processFlood(count: 400, endOfStream: false),
                                                    configuration: configuration, finish: false)
        #expect(pipeline.retainedEntries.windowProcesses == 50)
        pipeline.finish(error: nil)
        try runtime.shutdown()

        #expect(runtime.summary.aggregatorDrops["max_processes_per_window, samples"] == 350)
        let lines = try MetricsLines(path: metrics)
        // The first 50 processes are intact: one user sample each, with their own resource.
        #expect(Set(lines.resourceAttributes.compactMap { $0["process.pid"] }) == Set((1000..<1050).map { "\($0)" }))
        #expect(lines.total("samples.user.count") + lines.total("samples.kernel.count") == 50)
        let warnings = log.messages.withLock { $0 }.filter { $0.contains("max_processes_per_window") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("raise max_processes_per_window") == true)
        #expect(runtime.summary.description.contains("dropped by the aggregator (max_processes_per_window, samples): 350"))
    }

    @Test func processRecordsPastMaxProcessesAreDroppedAndTheirSamplesStillCount() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        let configuration = try Self.configuration(receiver: "max_processes: 20", metrics: metrics)
        let (pipeline, runtime, log) = try Self.run(Self.processFlood(count: 300, endOfStream: false),
                                                    configuration: configuration, finish: false)
        #expect(pipeline.retainedEntries.processes == 20)
        #expect(pipeline.retainedEntries.mappings == 20)
        pipeline.finish(error: nil)
        try runtime.shutdown()
        #expect(runtime.summary.aggregatorDrops["max_processes, process records"] == 280)
        // Mappings of refused processes are refused with them.
        #expect(runtime.summary.aggregatorDrops["max_mappings_per_process / max_mappings, mappings"] == 280)
        #expect(runtime.summary.unknownProcessSamples == 280)
        #expect(runtime.summary.samples == 300)
        let lines = try MetricsLines(path: metrics)
        #expect(lines.total("samples.kernel.count") == 300)
        let warnings = log.messages.withLock { $0 }.filter { $0.contains("receivers.profiling.max_processes ") }
        #expect(warnings.count == 1)
    }

    @Test func unwindStateIsKeptOnlyForProcessesWithinMaxProcesses() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        let configuration = try Self.configuration(receiver: "max_processes: 20", metrics: metrics)
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: OutputPaths(), logger: quietLogger)
        let pipeline = StreamPipeline(runtime: runtime, logger: quietLogger, unwindTables: UnwindTableCache())
        pipeline.attach(control: CollectingWriter().channel())
        let flood = Self.processFlood(count: 300, endOfStream: false, controlVersion: ControlStream.currentVersion)
        pipeline.preview(flood[...])
        try pipeline.consume(flood[...])
        let tracked = try #require(pipeline.retainedUnwindProcesses)
        #expect(tracked.mappings == 20)
        #expect(tracked.sampled == 20)
        pipeline.finish(error: nil)
        try runtime.shutdown()
    }

    @Test func mappingsPastTheirLimitsAreDroppedPerProcessAndInTotal() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        // 10 processes of 6 mappings: 4 kept each (24 dropped), then 30 in all (10 more dropped).
        let configuration = try Self.configuration(receiver: "max_mappings_per_process: 4\nmax_mappings: 30",
                                                   metrics: metrics)
        let (pipeline, runtime, log) = try Self.run(Self.processFlood(count: 10, mappingsEach: 6, endOfStream: false),
                                                    configuration: configuration, finish: false)
        #expect(pipeline.retainedEntries.processes == 10)
        #expect(pipeline.retainedEntries.mappings == 30)
        pipeline.finish(error: nil)
        try runtime.shutdown()
        #expect(runtime.summary.aggregatorDrops["max_mappings_per_process / max_mappings, mappings"] == 30)
        let messages = log.messages.withLock { $0 }
        #expect(messages.filter { $0.contains("receivers.profiling.max_mappings_per_process (4) reached") }.count == 1)
        #expect(messages.filter { $0.contains("receivers.profiling.max_mappings (30) reached") }.count == 1)
    }

    @Test func kernelSymbolsPastMaxKernelSymbolsAreDroppedAndTheRestStillName() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        let configuration = try Self.configuration(receiver: "max_kernel_symbols: 6", metrics: metrics)
        // The synthetic symbols, then a flood of others past them.
        let flood = (0..<1000).map {
            KernelSymbol(address: 0xffff_ffff_9000_0000 + UInt64($0) * 16, type: UInt8(ascii: "T"), name: "flood_\($0)")
        }
        let (pipeline, runtime, log) = try Self.run(Self.processFlood(count: 1, kernelSymbols: SyntheticStream.kernelSymbols + flood,
                                                                      endOfStream: false),
                                                    configuration: configuration, finish: false)
        #expect(pipeline.retainedEntries.kernelSymbols == 6)
        pipeline.finish(error: nil)
        try runtime.shutdown()
        #expect(runtime.summary.aggregatorDrops["max_kernel_symbols, kernel symbols"] == 1001)
        // The futex path is still named and classified.
        let lines = try MetricsLines(path: metrics)
        #expect(lines.sums["samples.kernel.count{kernel_area=synchronization,syscall_name=futex}"] == 1)
        #expect(log.messages.withLock { $0 }.filter { $0.contains("max_kernel_symbols (6) reached") }.count == 1)
    }

    @Test func samplesPastMaxProfileStacksAreDroppedFromTheProfileCountedAndLoggedOnce() throws {
        let directory = try temporaryDirectory()
        let configuration = try Self.configuration(receiver: "max_profile_stacks: 5", metrics: directory + "/m.jsonl")
        let log = RecordedLog()
        let runtime = try AggregatorRuntime(configuration: configuration,
                                            outputs: OutputPaths(folded: directory + "/stacks.folded"), logger: log.logger)
        // Two streams of the same pids: the second's first 3 cells add to the first's.
        for count in [3, 8] {
            let pipeline = StreamPipeline(runtime: runtime, logger: log.logger)
            try pipeline.consume(Self.processFlood(count: count)[...])
            pipeline.finish(error: nil)
        }
        try runtime.shutdown()
        // The second stream's profile kept 5 cells (3 dropped); the run's took 2 new ones.
        #expect(runtime.summary.aggregatorDrops[RunSummary.profileDropsKey] == 3)
        #expect(runtime.summary.samples == 11)
        let folded = try String(contentsOfFile: directory + "/stacks.folded", encoding: .utf8)
        let counts = folded.split(separator: "\n").compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
        #expect(counts.count == 5)
        #expect(counts.reduce(0, +) == 11 - 3)
        #expect(log.messages.withLock { $0 }.filter { $0.contains("receivers.profiling.max_profile_stacks (5) reached") }.count == 1)
    }

    @Test func aFinishedStreamLetsGoOfItsState() throws {
        let metrics = try temporaryDirectory() + "/m.jsonl"
        let (pipeline, _, _) = try Self.run(Self.processFlood(count: 200, mappingsEach: 3),
                                            configuration: Self.configuration(metrics: metrics), finish: false)
        #expect(pipeline.retainedEntries.processes == 200)
        #expect(pipeline.retainedEntries.mappings == 600)
        #expect(pipeline.retainedEntries.windowProcesses == 200)
        pipeline.finish(error: nil)
        #expect(pipeline.retainedEntries == (0, 0, 0, 0))
    }

    @Test(arguments: [
        ("receivers.profiling.max_processes", "0"), ("receivers.profiling.max_kernel_symbols", "many"),
        ("receivers.profiling.max_mappings", "99999999999"), ("connectors.profilingmetrics.max_processes_per_window", "-1"),
        ("receivers.profiling.max_profile_stacks", "0"),
    ])
    func limitsAreValidated(key: String, value: String) throws {
        let parts = key.split(separator: ".")
        let receiver = parts[0] == "receivers" ? "\(parts[2]): \(value)" : ""
        let connector = parts[0] == "connectors" ? "\(parts[2]): \(value)" : ""
        let error = #expect(throws: ConfigurationError.self) {
            try Self.configuration(receiver: receiver, connector: connector, metrics: "/dev/null")
        }
        #expect(error?.path == key)
        #expect(error?.fix?.contains("from 1 to") == true)
    }
}
