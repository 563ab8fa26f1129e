import Foundation
import Testing
import WireFormat

/// Runs tandem-sampler into a capture file while `body` runs workloads, then decodes it.
func capture(samplesPerSecond: Int, scratch: URL, extraArguments: [String] = [],
             while body: (SamplerProcess) throws -> Void) throws -> [Record] {
    let path = scratch.appendingPathComponent("capture-\(samplesPerSecond).tandem").path
    let sampler = try SamplerProcess(arguments: ["--output", path, "--samples-per-second", "\(samplesPerSecond)"] + extraArguments,
                                     scratch: scratch)
    do {
        try sampler.waitUntilSampling()
        try body(sampler)
    } catch {
        kill(sampler.pid, SIGKILL)
        throw error
    }
    try sampler.stop()
    return try decodeCapture(path)
}

extension SamplerLiveTests {
@Suite("tandem-sampler on the live kernel (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF"))
struct CaptureTests {
    /// A process that spins for T seconds of CPU time at F Hz gets F * T samples, give or take
    /// (more on a VM whose hypervisor steals time, see HostCPUTime).
    @Test("sample rate: at least 90% of F * T samples", arguments: [(19, 8.0), (99, 3.0), (999, 2.0)])
    func sampleRate(frequency: Int, seconds: Double) throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let spin = try Workload.build("spin", in: scratch)
        var workloadPID: Int32 = 0
        var stolen = 0.0
        let records = try capture(samplesPerSecond: frequency, scratch: scratch) { _ in
            // At nice -20 the workload keeps its CPU on a crowded host: a sampled process
            // that is often preempted gets F * T samples only on average, with a spread
            // too wide for a 90% bound at 19 Hz.
            let before = try HostCPUTime.read()
            let workload = try Workload.start("/usr/bin/nice", ["-n", "-20", spin, "\(seconds)"])
            workloadPID = workload.processIdentifier
            workload.waitUntilExit()
            stolen = try HostCPUTime.read().stolenShare(since: before)
        }
        let got = records.samples.filter { $0.pid == workloadPID }.count
        let expected = Double(frequency) * seconds
        let ratio = Double(got) / expected
        // The workload spins for T seconds of its own CPU time, which leaves out what the
        // hypervisor stole from it; the sampling timer runs on wall time and samples a stolen
        // task too. So stolen time can only add samples: up to 1 / (1 - stolen share) more
        // (a clean-clone CI run on a VM counted 204 samples at 19 Hz where 152 were expected;
        // here, with 13-16 % stolen, the ratio rose by a third to two thirds of that).
        let stolenAllowance = 1 / (1 - min(stolen, 0.5))
        print("sample rate \(frequency) Hz x \(seconds) s CPU: \(got) samples of \(Int(expected)) expected, ratio \(String(format: "%.3f", ratio)); "
            + "\(String(format: "%.1f", stolen * 100)) % of the busy CPU time stolen (allowance x\(String(format: "%.3f", stolenAllowance)))")
        #expect(ratio >= 0.9, "got \(got) samples, expected about \(Int(expected))")
        // A workload migrating between the CPUs' independent timers can catch a few extra
        // ticks; many more would mean samples counted twice.
        #expect(ratio <= 1.25 * stolenAllowance,
                "got \(got) samples, expected about \(Int(expected)) (\(String(format: "%.1f", stolen * 100)) % of the busy CPU time stolen)")
        let statistics = try #require(records.statistics.last)
        // Ring buffer drops (a sampler starved of CPU on a crowded host) show in the ratio.
        print("  ring buffer drops: \(statistics[.dropsRingBufferFull])")
        #expect(statistics[.samplesSent] == UInt64(records.samples.count))
        guard case .header(let header) = records.first else {
            Issue.record("the capture does not start with a header")
            return
        }
        #expect(header.samplesPerSecond == UInt32(frequency))
        #expect(header.cpuCount == UInt32(ProcessInfo.processInfo.activeProcessorCount))
        #expect(!header.bootID.isEmpty)
        guard case .endOfStream(let end) = records.last else {
            Issue.record("the capture does not end with endOfStream")
            return
        }
        #expect(end.reason == .shutdown)
    }

    /// Sampling stops before the last drain: at exit every sample the BPF program counted
    /// was sent or counted as dropped, in the stream's last statistics and in the exit line.
    /// At 999 Hz with both CPUs busy through the stop, a sample taken between the last
    /// drain and the counters' reading would show as collected and neither sent nor dropped.
    @Test("at exit, samples collected == sent + dropped (stream and exit line)")
    func exitAccounting() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let spin = try Workload.build("spin", in: scratch)
        var workloads: [Process] = []
        defer { for workload in workloads where workload.isRunning { kill(workload.processIdentifier, SIGKILL) } }
        var process: SamplerProcess?
        let records = try capture(samplesPerSecond: 999, scratch: scratch) { sampler in
            process = sampler
            // Busy on every CPU until after the sampler stopped.
            for _ in 0..<ProcessInfo.processInfo.activeProcessorCount {
                workloads.append(try Workload.start(spin, ["30"]))
            }
            usleep(1_500_000)
        }
        let statistics = try #require(records.statistics.last)
        print("exit accounting: collected \(statistics[.samplesCollected]), sent \(statistics[.samplesSent]), dropped \(statistics.totalDrops), \(records.samples.count) samples in the capture")
        #expect(statistics[.samplesCollected] > 0)
        #expect(statistics[.samplesCollected] == statistics[.samplesSent] + statistics.totalDrops)
        #expect(statistics[.samplesSent] == UInt64(records.samples.count))
        let exit = try #require(process?.exitCounts, "no exit line with counts: \(process?.log ?? "")")
        print("exit line: \(exit.line)")
        #expect(exit.collected == exit.sent + exit.drops, "\(exit.line)")
        #expect(exit.sent == UInt64(records.samples.count))
    }

    /// main -> a -> b, built with frame pointers: the user stacks hold b, a, main in order.
    @Test("user stacks follow the frame pointers of main -> a -> b")
    func userStacks() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let spin = try Workload.build("spin", in: scratch)
        let symbols = try SymbolTable(binary: spin)
        var workloadPID: Int32 = 0
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            let workload = try Workload.start(spin, ["1.5"])
            workloadPID = workload.processIdentifier
            workload.waitUntilExit()
        }
        let process = try #require(records.processRecords.first { $0.pid == workloadPID })
        #expect(process.executablePath == spin)
        #expect(process.comm == "spin")
        let mappings = try #require(records.mappingRecords.last { $0.pid == workloadPID })
        let text = try #require(mappings.mappings.first { $0.path == spin },
                                "every Mappings record of pid \(workloadPID): \(records.mappingRecords.filter { $0.pid == workloadPID }.map { $0.mappings.map(\.path) })")
        let base = text.start - text.fileOffset

        let samples = records.samples.filter { $0.pid == workloadPID }
        try #require(samples.count > 50)
        var inOrder = 0
        for sample in samples {
            let names = sample.userStack.map { address in
                address >= base ? symbols.name(containing: address - base) ?? "?" : "?"
            }
            // The leaf may be in clock_gettime (vDSO); b, a, main follow in this order.
            if let bIndex = names.firstIndex(of: "b"), names.count > bIndex + 2,
               names[bIndex + 1] == "a", names[bIndex + 2] == "main" {
                inOrder += 1
            }
        }
        print("user stacks: \(inOrder) of \(samples.count) samples hold b <- a <- main")
        #expect(Double(inOrder) >= 0.9 * Double(samples.count))
        // The return addresses point just after the calls: strictly inside a and main.
        let aStart = try #require(symbols.address(of: "a")), mainStart = try #require(symbols.address(of: "main"))
        let sample = try #require(samples.first { $0.userStack.count >= 3 })
        if let bIndex = sample.userStack.firstIndex(where: { symbols.name(containing: $0 - base) == "b" }) {
            #expect(sample.userStack[bIndex + 1] - base > aStart)
            #expect(sample.userStack[bIndex + 2] - base > mainStart)
        }
    }

    @Test("samples carry the sampled thread's own name, and a thread's new name after it renames itself")
    func threadNames() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let workloadPath = try Workload.build("named_threads", in: scratch, extraArguments: ["-pthread"])
        var workloadPID: Int32 = 0
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            let workload = try Workload.start(workloadPath, ["2"])
            workloadPID = workload.processIdentifier
            workload.waitUntilExit()
        }
        let process = try #require(records.processRecords.first { $0.pid == workloadPID })
        #expect(process.comm == "named_threads")
        let worker = records.samples.filter { $0.pid == workloadPID && $0.tid != workloadPID }
        try #require(worker.count > 60)
        let names = worker.map(\.threadName)
        // Before the worker names itself it has its process's name; then its names in order.
        let named = names.drop { $0 == "named_threads" }
        let firstRenamed = named.firstIndex(of: "tnd-renamed") ?? named.endIndex
        print("thread names: \(names.count) worker samples, \(named[..<firstRenamed].count) as tnd-worker, "
              + "\(named[firstRenamed...].count) as tnd-renamed, \(names.count - named.count) before naming")
        #expect(named[..<firstRenamed].allSatisfy { $0 == "tnd-worker" })
        #expect(named[firstRenamed...].allSatisfy { $0 == "tnd-renamed" })
        #expect(named[..<firstRenamed].count > 20 && named[firstRenamed...].count > 20)
        // Without an off-CPU threshold every sample is an on-CPU one.
        #expect(records.samples.allSatisfy { $0.offCPUNanoseconds == 0 })
    }

    /// A workload that lives in read(2): its samples carry kernel stacks that the
    /// stream's own kernel symbols resolve to the system call path.
    @Test("kernel stacks appear for a syscall-heavy workload")
    func kernelStacks() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let syscalls = try Workload.build("syscalls", in: scratch)
        var workloadPID: Int32 = 0
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            let workload = try Workload.start(syscalls, ["1.5"])
            workloadPID = workload.processIdentifier
            workload.waitUntilExit()
        }
        let names = KernelSymbolNames(records)
        let symbols = names.symbols
        try #require(symbols.count > 1000)
        #expect(zip(symbols, symbols.dropFirst()).allSatisfy { $0.address <= $1.address })
        let samples = records.samples.filter { $0.pid == workloadPID }
        try #require(samples.count > 50)
        let withKernel = samples.filter { !$0.kernelStack.isEmpty }
        let throughSyscall = withKernel.filter { sample in
            sample.kernelStack.contains { names.name(containing: $0).map { $0.hasPrefix("do_syscall_64") || $0.hasPrefix("entry_SYSCALL") } ?? false }
        }
        print("kernel stacks: \(withKernel.count) of \(samples.count) samples have one, \(throughSyscall.count) through do_syscall_64")
        #expect(Double(withKernel.count) >= 0.5 * Double(samples.count))
        #expect(Double(throughSyscall.count) >= 0.9 * Double(withKernel.count))
    }

    /// A thread still runs in the kernel after its exit event, and a sample taken there (no
    /// user stack) can follow the exit in the ring: it must not describe the process again,
    /// which would leave it, with no mappings, in both tables for good. At 999 Hz, 22 of 155
    /// such processes were described again before this was fixed.
    @Test("a sample taken after a process's exit does not describe it again")
    func samplesAfterExit() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let spin = try Workload.build("spin", in: scratch)
        var childPIDs: Set<Int32> = []
        let records = try capture(samplesPerSecond: 999, scratch: scratch) { _ in
            for _ in 0..<100 {
                let child = try Workload.start(spin, ["0.03"])
                childPIDs.insert(child.processIdentifier)
                child.waitUntilExit()
            }
        }
        var exited: Set<Int32> = []
        var describedAgain: [Int32] = []
        var exits = 0
        for record in records {
            switch record {
            case .processExit(let exit) where childPIDs.contains(exit.pid):
                exited.insert(exit.pid)
                exits += 1
            case .process(let info) where exited.contains(info.pid):
                describedAgain.append(info.pid)
            default:
                break
            }
        }
        let sampled = Set(records.samples.map(\.pid)).intersection(childPIDs)
        print("samples after exit: \(exits) exits of \(childPIDs.count) children (\(sampled.count) sampled), \(describedAgain.count) described again after their exit")
        #expect(sampled.count >= 50, "too few children sampled to show anything")
        #expect(exits == childPIDs.count, "every child's exit, once")
        #expect(describedAgain.isEmpty, "described again after their exit: \(describedAgain)")
    }

    /// Children that exec and exit between two drains are still reported, with their exit.
    @Test("short-lived children: exec and exit are reported")
    func shortLivedChildren() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var childPIDs: [Int32] = []
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            for _ in 0..<10 {
                let child = try Workload.start("/bin/true", [])
                childPIDs.append(child.processIdentifier)
                child.waitUntilExit()
            }
            // The exit tracepoint ran before the child was reaped, and the sampler
            // drains its ring buffer once more after SIGTERM: no wait is needed.
        }
        let execs = records.processRecords.filter { childPIDs.contains($0.pid) && $0.isExec }
        let exits = records.exits.filter { childPIDs.contains($0.pid) }
        print("short-lived children: \(execs.count) exec records and \(exits.count) exits of \(childPIDs.count) children")
        #expect(Set(execs.map(\.pid)) == Set(childPIDs))
        #expect(execs.allSatisfy { $0.comm == "true" })
        #expect(Set(exits.map(\.pid)) == Set(childPIDs))
        // Each exit follows its exec in the stream.
        for pid in childPIDs {
            let execIndex = records.firstIndex { if case .process(let info) = $0 { info.pid == pid && info.isExec } else { false } }
            let exitIndex = records.firstIndex { if case .processExit(let exit) = $0 { exit.pid == pid } else { false } }
            if let execIndex, let exitIndex { #expect(execIndex < exitIndex) }
        }
    }

    /// A library loaded after the process was first described shows up as a new mapping.
    @Test("a library dlopen'ed after start is reported as a mapping")
    func dlopenAfterStart() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let loader = try Workload.build("late_loader", in: scratch, extraArguments: ["-ldl"])
        let library = try Workload.buildLibrary("late", in: scratch)
        var workloadPID: Int32 = 0
        let records = try capture(samplesPerSecond: 99, scratch: scratch) { _ in
            let workload = try Workload.start(loader, [library, "0.7", "1.5"])
            workloadPID = workload.processIdentifier
            workload.waitUntilExit()
        }
        let sets = records.mappingRecords.filter { $0.pid == workloadPID }
        try #require(!sets.isEmpty)
        #expect(!sets[0].mappings.contains { $0.path == library }, "the first description predates the dlopen")
        let later = try #require(sets.last { $0.mappings.contains { $0.path == library } }, "no mapping of \(library)")
        // The samples in late_spin fall inside the reported library mapping.
        let range = later.mappings.filter { $0.path == library }
        let inLibrary = records.samples.filter { sample in
            sample.pid == workloadPID && range.contains { $0.start <= sample.userStack.first ?? 0 && sample.userStack.first ?? 0 < $0.end }
        }
        // The first sample in the library makes the sampler read the mappings again, at once:
        // the process was first read in its first moments, so its re-reads are not held back
        // by the 1 s interval. So no sample in the library precedes the mappings that cover it.
        var covered = false
        var uncovered = 0
        for record in records {
            switch record {
            case .mappings(let set) where set.pid == workloadPID:
                covered = set.mappings.contains { $0.path == library }
            case .sample(let sample) where sample.pid == workloadPID && !covered:
                if let leaf = sample.userStack.first, range.contains(where: { $0.start <= leaf && leaf < $0.end }) { uncovered += 1 }
            default:
                break
            }
        }
        print("dlopen: \(sets.count) mapping sets, \(inLibrary.count) samples with the leaf in the library, \(uncovered) before its mapping")
        #expect(inLibrary.count > 10)
        #expect(uncovered == 0, "\(uncovered) samples in the library came before a mappings record with it")
    }

    /// After start-up the sampler keeps only CAP_SYS_PTRACE and sets no_new_privs.
    @Test("capabilities are dropped after start-up")
    func capabilitiesDropped() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var status = ""
        _ = try capture(samplesPerSecond: 19, scratch: scratch) { sampler in
            status = try String(contentsOfFile: "/proc/\(sampler.pid)/status", encoding: .utf8)
        }
        func field(_ name: String) -> String? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
        }
        let ptrace = String(format: "%016llx", UInt64(1) << 19)
        #expect(field("CapEff") == ptrace)
        #expect(field("CapPrm") == ptrace)
        #expect(field("CapInh") == "0000000000000000")
        #expect(field("CapBnd") == ptrace)
        #expect(field("CapAmb") == "0000000000000000")
        #expect(field("NoNewPrivs") == "1")
    }
}
}
