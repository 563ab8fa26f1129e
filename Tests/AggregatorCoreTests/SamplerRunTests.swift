import AggregatorCore
import Configuration
import Testing
import WireFormat

/// The samplers' counters in the summary: cumulative per sampler run, so a sampler that
/// reconnected counts once, and different runs add up.
@Suite struct SamplerRunTests {
    /// A stream of `samples` samples from a sampler that started at `startTime`, ending
    /// with its cumulative statistics: `collected` and `dropped` ring-buffer drops.
    func stream(startTime: UInt64, samples: Int, collected: UInt64, dropped: UInt64, offCPULost: UInt64 = 0) -> [UInt8] {
        var header = SyntheticStream.header
        header.samplerStartTime = startTime
        var encoder = StreamEncoder(header: header)
        var time = header.clock.monotonicNanoseconds
        for _ in 0..<samples {
            time += 10_000_000
            encoder.appendSample(time: time, pid: 4242, tid: 4243, cpu: 0, kernelStack: [], userStack: [0x1000])
        }
        encoder.append(.statistics(SamplerStatistics(time: time, counters: [
            .samplesCollected: collected, .dropsRingBufferFull: dropped, .offCPUSwitchesLost: offCPULost,
        ])))
        encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished)))
        return encoder.takeBytes()
    }

    /// Replays each stream in turn through one runtime, as `serve` takes reconnections.
    func summary(of streams: [[UInt8]]) throws -> RunSummary {
        let runtime = try AggregatorRuntime(configuration: DefaultConfiguration.load(path: nil),
                                            outputs: OutputPaths(), logger: quietLogger)
        for bytes in streams {
            let pipeline = StreamPipeline(runtime: runtime, logger: quietLogger)
            try pipeline.consume(bytes[...])
            pipeline.finish(error: nil)
        }
        try runtime.shutdown()
        return runtime.summary
    }

    @Test func aSamplerThatReconnectedCountsItsDropsOnce() throws {
        // The second stream's statistics include the first's: 3 drops, then 2 more.
        let summary = try summary(of: [
            stream(startTime: 7_000, samples: 10, collected: 13, dropped: 3),
            stream(startTime: 7_000, samples: 20, collected: 35, dropped: 5),
        ])
        #expect(summary.samples == 30)
        #expect(summary.samplerDrops["drops_ring_buffer_full"] == 5)
        #expect(summary.samplerCollected == 35)
        #expect(summary.streams == 2)
    }

    @Test func differentSamplerRunsAddUp() throws {
        let summary = try summary(of: [
            stream(startTime: 7_000, samples: 10, collected: 13, dropped: 3),
            stream(startTime: 9_000, samples: 20, collected: 25, dropped: 5),
        ])
        #expect(summary.samplerDrops["drops_ring_buffer_full"] == 8)
        #expect(summary.samplerCollected == 38)
    }

    @Test func streamsThatDoNotNameTheirRunCountEachOnItsOwn() throws {
        let summary = try summary(of: [
            stream(startTime: 0, samples: 10, collected: 13, dropped: 3),
            stream(startTime: 0, samples: 20, collected: 25, dropped: 5),
        ])
        #expect(summary.samplerDrops["drops_ring_buffer_full"] == 8)
        #expect(summary.samplerCollected == 38)
    }

    @Test("off-CPU waits the sampler could not record are reported apart from the sample drops, once per run")
    func unrecordedOffCPUWaitsAreReported() throws {
        let summary = try summary(of: [
            stream(startTime: 7_000, samples: 10, collected: 13, dropped: 3, offCPULost: 40),
            stream(startTime: 7_000, samples: 20, collected: 35, dropped: 5, offCPULost: 90),
            stream(startTime: 9_000, samples: 5, collected: 5, dropped: 0, offCPULost: 7),
        ])
        #expect(summary.samplerUnrecorded["off_cpu_switches_lost"] == 97)
        // Not samples: the drops still add up to collected - received.
        #expect(summary.totalSamplerDrops == 5)
        #expect(summary.description.contains("not recorded by the sampler (off_cpu_switches_lost): 97"))
        let quiet = try self.summary(of: [stream(startTime: 7_000, samples: 10, collected: 10, dropped: 0)])
        #expect(!quiet.description.contains("not recorded"))
    }
}
