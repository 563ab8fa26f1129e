import Foundation
import Testing
import WireFormat

extension SamplerLiveTests {
/// Off-CPU samples against Tests/Workloads/blocking_waits.c, which blocks its main thread
/// in one kind of wait and measures each wait's time off the CPU itself (wall time minus
/// the thread's CPU time around the call).
@Suite("off-CPU samples of known waits on the live kernel (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF"))
struct OffCPUKnownTruthLiveTests {
    /// One kind of wait: how to run it, and the kernel functions its waits sleep under.
    /// The names are those seen on real stacks of this kernel (6.18: `anon_pipe_read`,
    /// `futex_do_wait` under `__futex_wait`, `do_fsync` above ext4's flush and writeback
    /// waits), with the names older kernels use beside them.
    struct Wait: Sendable, CustomStringConvertible {
        var kind: String
        var arguments: [String]
        var kernelFunctions: Set<String>
        var description: String { kind }
    }

    static let pipe = Wait(kind: "pipe", arguments: ["100", "20000"], kernelFunctions: ["anon_pipe_read", "pipe_read"])
    static let futex = Wait(kind: "futex", arguments: ["100", "20000"],
                            kernelFunctions: ["futex_do_wait", "futex_wait_queue", "futex_wait_queue_me"])
    /// 4 MiB per fsync: a disk that flushes fast makes each wait a few hundred microseconds
    /// over two or three switches, and the few microseconds per switch the two clocks see
    /// differently would then weigh several percent.
    static let fsync = Wait(kind: "fsync", arguments: ["100", "4194304"], kernelFunctions: ["do_fsync"])

    /// What the workload measured.
    struct Truth {
        var offNanoseconds: Int64
        /// The sum of each wait's squared deviation from the mean, in ns².
        var squaredDeviations: Double
        var waits: Int64
        var blocked: Int64
        var switches: Int64

        init(_ output: String) throws {
            func value(_ key: String) -> Int64 {
                output.split(separator: "\n").first { $0.hasPrefix(key + "=") }.flatMap { Int64($0.dropFirst(key.count + 1)) } ?? -1
            }
            offNanoseconds = value("off_ns")
            squaredDeviations = output.split(separator: "\n").first { $0.hasPrefix("squared_deviations_ns2=") }
                .flatMap { Double($0.dropFirst("squared_deviations_ns2=".count)) } ?? -1
            waits = value("waits")
            blocked = value("blocked")
            switches = value("switches")
            try #require(offNanoseconds > 0 && squaredDeviations >= 0 && waits > 0 && blocked >= 0 && switches >= blocked,
                         "workload output: \(output)")
        }

        var meanNanoseconds: Double { Double(offNanoseconds) / Double(waits) }
        /// The spread of one wait's time off the CPU, from the squared deviations the workload summed.
        var standardDeviationNanoseconds: Double { (squaredDeviations / Double(waits)).squareRoot() }
    }

    /// The main thread's off-CPU samples in `wait` and the workload's own measurement.
    struct Run {
        var truth: Truth
        var waits: [Sample]
        var userFrames: [[String]]
        var records: [Record]
        /// CPU time the hypervisor stole from the host while the workload ran (HostCPUTime):
        /// the workload's measure (wall time less its CPU time) counts a wait's stolen on-CPU
        /// part as off the CPU, the sampler does not.
        var stolenNanoseconds: Int64
    }

    func run(_ wait: Wait, threshold: String) throws -> Run {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let workloadPath = try Workload.build("blocking_waits", in: scratch, extraArguments: ["-pthread"])
        let symbols = try SymbolTable(binary: workloadPath)
        var workloadPID: Int32 = 0
        var output = ""
        var stolen: Int64 = 0
        let records = try capture(samplesPerSecond: 19, scratch: scratch, extraArguments: ["--off-cpu-threshold", threshold]) { _ in
            let before = try HostCPUTime.read()
            defer { stolen = (try? HostCPUTime.read().stolenNanoseconds(since: before)) ?? 0 }
            let workload = Process()
            workload.executableURL = URL(fileURLWithPath: workloadPath)
            workload.arguments = [wait.kind] + wait.arguments
            let pipe = Pipe()
            workload.standardOutput = pipe
            try workload.run()
            workloadPID = workload.processIdentifier
            output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            workload.waitUntilExit()
        }
        let truth = try Truth(output)

        let names = KernelSymbolNames(records)
        // The main thread (tid == pid) waits; the helper thread's waits are another stack.
        let mainThreadWaits = records.samples.filter { $0.pid == workloadPID && $0.tid == workloadPID && $0.offCPUNanoseconds > 0 }
        let inWait = { (sample: Sample) in
            sample.kernelStack.contains { names.name(containing: $0).map(wait.kernelFunctions.contains) ?? false }
        }
        let waits = mainThreadWaits.filter(inWait)
        let others = mainThreadWaits.filter { !inWait($0) }
        for sample in others.prefix(5) {
            print("off-CPU \(wait.kind): a wait of the main thread without \(wait.kernelFunctions.sorted()): \(sample.offCPUNanoseconds) ns, flags \(sample.flags), "
                  + "kernel \(sample.kernelStack.prefix(8).map { names.name(containing: $0) ?? "?" })")
        }
        let mappings = records.mappingRecords.filter { $0.pid == workloadPID }
        let text = try #require(mappings.lazy.flatMap(\.mappings).first { $0.path == workloadPath },
                                "mappings of the workload: \(mappings.map { $0.mappings.map(\.path) })")
        let base = text.start - text.fileOffset
        // The workload's own frames, leaf first (frames in libc are left out).
        let userFrames = waits.map { sample in
            sample.userStack.compactMap { $0 >= base && $0 - base < 1 << 32 ? symbols.name(containing: $0 - base) : nil }
        }
        return Run(truth: truth, waits: waits, userFrames: userFrames, records: records, stolenNanoseconds: stolen)
    }

    @Test("every switch recorded: a wait's off-CPU time adds up to what the program measured (within 5%), with its kernel function and caller chain",
          arguments: [pipe, futex, fsync])
    func waitsAddUpToTheMeasuredTime(wait: Wait) throws {
        let run = try run(wait, threshold: "1")
        let recorded = run.waits.reduce(Int64(0)) { $0 + Int64($1.offCPUNanoseconds) }
        // Stolen time can only make the program's measure larger than what was recorded.
        let shortfall = max(0, run.truth.offNanoseconds - recorded - run.stolenNanoseconds)
        let error = Double(recorded > run.truth.offNanoseconds ? recorded - run.truth.offNanoseconds : shortfall)
            / Double(run.truth.offNanoseconds)
        print("off-CPU \(wait.kind): \(run.waits.count) samples under \(wait.kernelFunctions.sorted()) for \(recorded) ns; "
              + "the program measured \(run.truth.waits) waits (\(run.truth.blocked) over 100 us, \(run.truth.switches) switches) for \(run.truth.offNanoseconds) ns "
              + "(\(String(format: "%.2f", 100 * error))% apart after \(run.stolenNanoseconds) ns stolen from the host)")
        #expect(error <= 0.05)
        // A wait over 100 us switched out at least once; every recorded one is a switch the
        // thread counted in the wait (an fsync sleeps several times: flush, writeback). A
        // wait that did not block looks over 100 us to the program only with 100 us stolen.
        let stolenWaits = Int64((run.stolenNanoseconds + 99_999) / 100_000)
        #expect(Int64(run.waits.count) + stolenWaits >= run.truth.blocked && Int64(run.waits.count) <= run.truth.switches,
                "\(run.waits.count) recorded, \(run.truth.blocked) blocked, \(run.truth.switches) switches, \(run.stolenNanoseconds) ns stolen")

        // The caller chain of the blocking call: <kind>_cycle <- main (the leaf in libc has no
        // frame pointer, so wait_<kind>, its caller, is not on a frame-pointer walk).
        let inOrder = run.userFrames.filter { names in
            guard let cycle = names.firstIndex(of: "\(wait.kind)_cycle") else { return false }
            return names.count > cycle + 1 && names[cycle + 1] == "main"
        }
        #expect(Double(inOrder.count) >= 0.9 * Double(run.waits.count),
                "\(inOrder.count) of \(run.waits.count) hold \(wait.kind)_cycle <- main; e.g. \(run.userFrames.first ?? [])")
    }

    /// At threshold p each of the n switches is recorded independently with probability p:
    /// the count is binomial(n, p). n is at least the waits that blocked (over 100 us) and at
    /// most the switches the thread counted within its waits (a preemption inside the read
    /// is a switch too). The bounds are 4.5 standard deviations either side (a
    /// false failure about once in 150,000 runs). The mean time of the recorded waits is a
    /// sample mean of k of them: within 4.5 standard errors of the program's mean, plus 5 us
    /// for what the two clocks see differently in one wait (the program's clock reads and
    /// system call around the switch; its few reads that did not switch out).
    @Test("threshold 0.1: about a tenth of the switches recorded (binomial bounds), time per recorded wait unbiased")
    func thresholdSamplesAShare() throws {
        let wait = Wait(kind: "pipe", arguments: ["3000", "1000"], kernelFunctions: Self.pipe.kernelFunctions)
        let run = try run(wait, threshold: "0.1")
        let p = 0.1
        let least = Double(run.truth.blocked), most = Double(run.truth.switches)
        try #require(least >= 0.95 * Double(run.truth.waits), "most reads should block: \(run.truth)")
        let expected = least * p, spread = (most * p * (1 - p)).squareRoot()
        let k = Double(run.waits.count)
        let recordedMean = run.waits.reduce(0.0) { $0 + Double($1.offCPUNanoseconds) } / max(1, k)
        let standardError = run.truth.standardDeviationNanoseconds / max(1, k).squareRoot()
        print("off-CPU threshold 0.1: \(run.waits.count) of \(run.truth.blocked) blocked waits (\(run.truth.switches) switches in them) recorded "
              + "(expected \(expected)...\(most * p) ± \(String(format: "%.1f", spread))); "
              + "mean recorded wait \(Int(recordedMean)) ns, the program's mean \(Int(run.truth.meanNanoseconds)) ns "
              + "(standard deviation \(Int(run.truth.standardDeviationNanoseconds)) ns)")
        #expect(k >= least * p - 4.5 * spread && k <= most * p + 4.5 * spread)
        #expect(abs(recordedMean - run.truth.meanNanoseconds) <= 4.5 * standardError + 5000)

        let statistics = try #require(run.records.compactMap { if case .statistics(let s) = $0 { s } else { nil } }.last)
        #expect(statistics[.offCPUSwitchesRecorded] >= UInt64(run.waits.count))
    }
}
}
