import Foundation
import Profiles
import Testing
@testable import ProfileOutputs

/// The off-CPU outputs of a known profile: samples weighted by the nanoseconds waited
/// (`ProfileAggregate.add(_:weight:)`), as pprof (read back by `go tool pprof`), flame
/// graph and the report's "where threads wait".
@Suite struct OffCPUOutputTests {
    static let bpfProgram = Frame(type: .kernel, address: 0xffff_ffff_c000_1000, functionName: "bpf_prog_0123_tandem_sample")
    static let traceRun = Frame(type: .kernel, address: 0xffff_ffff_8120_0000, functionName: "bpf_trace_run4")
    static let innerSchedule = Frame(type: .kernel, address: 0xffff_ffff_8130_0000, functionName: "__schedule")
    static let schedule = Frame(type: .kernel, address: 0xffff_ffff_8130_1000, functionName: "schedule")
    static let nanosleep = Frame(type: .kernel, address: 0xffff_ffff_8140_0000, functionName: "do_nanosleep")
    static let pipeRead = Frame(type: .kernel, address: 0xffff_ffff_8150_0000, functionName: "pipe_read")
    static let libcSleep = Frame(type: .native, address: 0x7f00_0000_5000, functionName: "clock_nanosleep",
                                 mappingPath: Fixture.libc, fileOffset: 0x5000)
    static let libcRead = Frame(type: .native, address: 0x7f00_0000_6000, functionName: "read",
                                mappingPath: Fixture.libc, fileOffset: 0x6000)

    static let sleeping = [bpfProgram, traceRun, innerSchedule, schedule, nanosleep, libcSleep, Fixture.work, Fixture.spinMain]
    static let reading = [bpfProgram, traceRun, innerSchedule, schedule, pipeRead, libcRead, Fixture.spinMain]

    /// Three waits in nanosleep (70, 70 and 60 ms) and one in a pipe read (300 ms).
    static var aggregate: ProfileAggregate {
        var aggregate = ProfileAggregate()
        for (frames, milliseconds, time) in [(sleeping, 70, 1_000), (sleeping, 70, 2_000), (sleeping, 60, 3_000),
                                              (reading, 300, 4_000)] as [([Frame], Int64, UInt64)] {
            aggregate.add(Fixture.sample(Fixture.spin, tid: 100, weight: 1, frames, firstTime: time),
                          weight: milliseconds * 1_000_000)
        }
        return aggregate
    }

    @Test func eventsCountTheWaitsAndTheWeightSumsTheirTime() {
        let entries = Self.aggregate.entries.sorted { $0.count < $1.count }
        #expect(entries.map(\.count) == [200_000_000, 300_000_000])
        #expect(entries.map(\.events) == [3, 1])
        #expect(Self.aggregate.totalEvents == 4)
        // A merge adds both.
        var merged = Self.aggregate
        merged.merge(Self.aggregate)
        #expect(merged.entries.sorted { $0.count < $1.count }.map(\.events) == [6, 2])
    }

    @Test func pprofHasEventsAndOffCPUTimeAsSampleTypes() throws {
        let path = temporaryPath("off-cpu.pb.gz")
        try PprofWriter(samplesPerSecond: 99, sampleTypes: PprofSampleType.offCPUProfile, periodType: .offCPU,
                        period: 1).write(Self.aggregate, toFile: path)
        let raw = try PprofWriterTests.pprof(["-raw"], path)
        #expect(raw.contains("PeriodType: off_cpu nanoseconds"))
        #expect(raw.contains("events/count off_cpu/nanoseconds"))
        func traces(_ index: String) throws -> [String: Int64] {
            // In nanoseconds, not scaled (`200ms`), and without the unit `parseTraces` does not expect.
            let text = try PprofWriterTests.pprof(["-traces", "-unit=ns", "-sample_index=\(index)"], path)
                .replacingOccurrences(of: "([0-9]+)ns ", with: "$1 ", options: .regularExpression)
            let parsed = PprofWriterTests.parseTraces(text)
            return Dictionary(parsed.map { ($0.functions[4], $0.value) }, uniquingKeysWith: +)
        }
        #expect(try traces("off_cpu") == ["do_nanosleep": 200_000_000, "pipe_read": 300_000_000])
        #expect(try traces("events") == ["do_nanosleep": 3, "pipe_read": 1])
        // Without -sample_index, pprof shows the last type: the time.
        #expect(try PprofWriterTests.pprof(["-top"], path).contains("Type: off_cpu"))
    }

    @Test func onCPUPprofKeepsItsSampleTypes() throws {
        let writer = PprofWriter(samplesPerSecond: 100)
        #expect(writer.sampleTypes == [.samples, .cpu])
        #expect(writer.periodType == .cpu)
    }

    @Test func flameGraphWidthsAreTimeInMilliseconds() {
        let svg = FlameGraphSVG(title: "off-CPU", unit: .nanoseconds).render(Self.aggregate)
        #expect(svg.contains("500.00 ms"))
        #expect(svg.contains("do_nanosleep (kernel): 200.00 ms, 40.00%"))
        #expect(!svg.contains("samples"))
    }

    @Test func kernelWaitFunctionIsTheSchedulersCaller() {
        #expect(KernelWaitFunction.name(in: Self.sleeping) == "do_nanosleep")
        let hrtimer = Frame(type: .kernel, address: 1, functionName: "schedule_hrtimeout_range_clock")
        let poll = Frame(type: .kernel, address: 2, functionName: "do_poll")
        #expect(KernelWaitFunction.name(in: [Self.innerSchedule, Self.schedule, hrtimer, poll]) == "do_poll")
        // No scheduler frame, or nothing kernel below it.
        #expect(KernelWaitFunction.name(in: [Self.pipeRead, Self.libcRead]) == nil)
        #expect(KernelWaitFunction.name(in: [Self.innerSchedule, Self.libcRead]) == nil)
        #expect(KernelWaitFunction.name(in: []) == nil)
    }

    @Test func reportSaysWhereThreadsWait() throws {
        let sections = TextReport().waitSections(Self.aggregate)
        #expect(sections.count == 2)
        #expect(sections[0].rows.map(\.label) == ["read", "clock_nanosleep"])
        #expect(sections[1].rows.map(\.label) == ["pipe_read", "do_nanosleep"])
        #expect(sections[1].rows.map(\.count) == [300_000_000, 200_000_000])
        #expect(sections[1].rows.map(\.share) == [0.6, 0.4])
        let text = TextReport().render(Fixture.aggregate, offCPU: Self.aggregate)
        #expect(text.contains("Off-CPU: 500.00 ms waited in 4 samples"))
        #expect(text.contains("  60.00%  300.00  pipe_read\n"))
        // No off-CPU samples, no section.
        #expect(!TextReport().render(Fixture.aggregate, offCPU: ProfileAggregate()).contains("Where threads wait"))
        #expect(TextReport().waitSections(ProfileAggregate()).isEmpty)
    }

    @Test func millisecondsRoundToHundredths() {
        #expect(ProfileWeightUnit.nanoseconds.describe(0) == "0.00 ms")
        #expect(ProfileWeightUnit.nanoseconds.describe(4_999) == "0.00 ms")
        #expect(ProfileWeightUnit.nanoseconds.describe(5_000) == "0.01 ms")
        #expect(ProfileWeightUnit.nanoseconds.describe(1_629_889_076) == "1629.89 ms")
        #expect(ProfileWeightUnit.samples.describe(1) == "1 sample")
    }
}

extension OffCPUOutputTests {
    /// A hostile stream's waits near 2^63 ns: the sums hold at `Int64.max`, nothing traps.
    @Test func hugeWaitsSaturateInsteadOfTrapping() throws {
        var aggregate = ProfileAggregate()
        for (index, frames) in [Self.sleeping, Self.sleeping, Self.reading].enumerated() {
            aggregate.add(Fixture.sample(Fixture.spin, tid: 100, weight: 1, frames, firstTime: UInt64(index)),
                          weight: Int64.max / 2 + 1)
        }
        var merged = aggregate
        merged.merge(aggregate)
        for profile in [aggregate, merged] {
            #expect(profile.totalSamples == Int64.max)
            #expect(profile.entries.allSatisfy { $0.count > 0 })
            #expect(!FoldedStacksWriter().lines(for: profile).isEmpty)
            #expect(FlameGraphSVG(unit: .nanoseconds).render(profile).contains("</svg>"))
            #expect(TextReport().render(profile, offCPU: profile).contains("Where threads wait"))
            _ = PprofWriter(samplesPerSecond: 99, sampleTypes: PprofSampleType.offCPUProfile).encode(profile)
        }
    }
}
