import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Percentage of `part` in `total`.
func percent(_ part: Int64, of total: Int64) -> Double { total == 0 ? 0 : 100 * Double(part) / Double(total) }

func formatted(_ value: Double) -> String { String(format: "%.1f", value) }

/// Each live session runs once (SharedRuns) and the tests that examine it wait for it. The
/// tests run one after another: two sessions at once would double the samples each
/// aggregator symbolizes and starve the workloads of CPU (a 2-CPU machine takes longer).
@Suite("tandem end to end on the live kernel (root; sampler and unprivileged aggregator over a socket)",
       .serialized, .enabled(if: isRoot, "needs root: loads BPF, switches to the user tandem"))
struct EndToEndTests {
    /// tandem-demo cpu spends 50% / 20% / 30% of its thread CPU time in spin_main_hash,
    /// spin_main_sort (the executable) and demo_library_checksum (libtandemdemo.so).
    @Test("attribution: leaf functions and shlib_name match the workload's known CPU shares within 3 points")
    func attribution() async throws {
        let run = try await SharedRuns.shared.cpu()
        let demo = run.workload("cpu")

        // Leaf functions, from the folded stacks of the demo's own comm.
        let stacks = try FoldedStacks(file: run.foldedURL).process(demo.comm)
        let truth = ["spin_main_hash": 50.0, "spin_main_sort": 20.0, "demo_library_checksum": 30.0]
        var leaves: [String: Int64] = [:]
        var total: Int64 = 0
        for stack in stacks {
            total += Int64(stack.count)
            leaves[stack.frames.last!, default: 0] += Int64(stack.count)
        }
        let shares = truth.keys.sorted().map { "\($0) \(formatted(percent(leaves[$0] ?? 0, of: total)))%" }
        print("attribution: \(total) samples of \(demo.comm) (pid \(demo.pid)); leaf shares: \(shares.joined(separator: ", "))")
        try #require(total >= 2500, "too few samples of the workload to measure shares: \(total)\n\(run.report)")
        for (function, expected) in truth {
            let measured = percent(leaves[function] ?? 0, of: total)
            #expect(abs(measured - expected) <= 3, "\(function): \(formatted(measured))% of leaves, truth \(expected)%")
        }

        // samples.native.count by shlib_name, from the metrics of the demo's pid.
        let metrics = try MetricPoints(file: run.metricsURL)
        let native = metrics.sum("samples.native.count", pid: demo.pid) { $0["shlib_name"] ?? "" }
        let nativeTotal = native.values.reduce(0, +)
        let library = percent(native["libtandemdemo"] ?? 0, of: nativeTotal)
        let executable = percent(native[""] ?? 0, of: nativeTotal)
        print("attribution: samples.native.count \(native.sorted { $0.key < $1.key }.map { "\($0.key.isEmpty ? "(executable)" : $0.key)=\($0.value)" }.joined(separator: " ")); libtandemdemo \(formatted(library))%, executable \(formatted(executable))%")
        #expect(nativeTotal >= total * 9 / 10, "native samples \(nativeTotal) of \(total) in the folded stacks")
        #expect(abs(library - 30) <= 3, "libtandemdemo: \(formatted(library))% of native samples, truth 30%")
        #expect(abs(executable - 70) <= 3, "the executable (no shlib_name): \(formatted(executable))% of native samples, truth 70%")
        let user = metrics.sum("samples.user.count", pid: demo.pid) { _ in "" }.values.reduce(0, +)
        let kernel = metrics.sum("samples.kernel.count", pid: demo.pid) { _ in "" }.values.reduce(0, +)
        #expect(user + kernel == total, "user \(user) + kernel \(kernel) samples, folded \(total)")
    }

    /// What each system-call workload's kernel samples must mostly be: classes
    /// (`area/proto/io syscall`), each present, together at least `majority` percent.
    struct KernelExpectation: Sendable, CustomTestStringConvertible {
        var mode: String
        var classes: [String]
        /// Classes of which at least one must be present (when the split between them varies).
        var anyOf: Bool = false
        var majority: Double
        /// Fewest kernel samples that make the shares meaningful (fsync waits for the disk
        /// off-CPU: it has few on-CPU samples, nearly all of them in the expected class).
        var minimumSamples: Int64 = 50
        var testDescription: String { mode }
    }

    /// Measured on Linux 6.18 (ext4 /tmp), 999 Hz, 6 s, eight runs: tcp 94-96% (write 43-61%,
    /// read 34-53%), pipe 78-82% (read 37-43%, write 38-45%), fsync 93-97% (disk//write fsync
    /// 80-90%, disk//write write 6-13%), futex 78-83%. The thresholds leave 15-20 points.
    static let kernelExpectations = [
        KernelExpectation(mode: "tcp", classes: ["network/tcp/write write", "network/tcp/read read"], majority: 75),
        KernelExpectation(mode: "pipe", classes: ["ipc//write write", "ipc//read read"], majority: 60),
        KernelExpectation(mode: "fsync", classes: ["disk//write write", "disk//write fsync"], anyOf: true, majority: 60,
                          minimumSamples: 20),
        KernelExpectation(mode: "futex", classes: ["synchronization futex"], majority: 60),
    ]

    @Test("kernel classification: samples.kernel.count carries kernel_area/proto/io and syscall_name",
          arguments: kernelExpectations)
    func kernelClassification(_ expectation: KernelExpectation) async throws {
        let run = try await SharedRuns.shared.kernel()
        let workload = run.workload(expectation.mode)
        let metrics = try MetricPoints(file: run.metricsURL)
        let classes = metrics.sum("samples.kernel.count", pid: workload.pid) { attributes in
            // The class string as the reference writes it: area/proto/io, trailing empty parts left out.
            var kernelClass = [attributes["kernel_area"], attributes["kernel_proto"], attributes["kernel_io"]]
                .map { $0 ?? "" }.joined(separator: "/")
            while kernelClass.hasSuffix("/") { kernelClass.removeLast() }
            return "\(kernelClass.isEmpty ? "-" : kernelClass) \(attributes["syscall_name"] ?? "-")"
        }
        let total = classes.values.reduce(0, +)
        let listing = classes.sorted { $0.value > $1.value }.map { "\($0.key): \($0.value) (\(formatted(percent($0.value, of: total)))%)" }
        print("kernel classes of \(expectation.mode) (pid \(workload.pid)), \(total) kernel samples: \(listing.joined(separator: "; "))")
        try #require(total >= expectation.minimumSamples, "too few kernel samples of the \(expectation.mode) workload: \(total)")
        let expected = expectation.classes.reduce(Int64(0)) { $0 + (classes[$1] ?? 0) }
        if expectation.anyOf {
            #expect(expected > 0, "none of \(expectation.classes) in \(listing)")
        } else {
            for name in expectation.classes {
                #expect((classes[name] ?? 0) > 0, "no \(name) in \(listing)")
            }
        }
        #expect(percent(expected, of: total) >= expectation.majority,
                "\(expectation.classes) are \(formatted(percent(expected, of: total)))% of kernel samples, expected at least \(expectation.majority)%: \(listing)")
    }

    /// The capture the aggregator teed, replayed offline by the same user with the same
    /// (default) configuration, gives the metrics the live aggregator exported.
    ///
    /// Strictly equal: every metric of the workloads' processes (their files sit unchanged in
    /// the test's directory), and samples.user.count / samples.kernel.count of every process
    /// (the stream alone decides them). Other processes' frame types and classifications
    /// depend on their ELF files, which other users of a shared machine may delete or replace
    /// between the live run and the replay: those differences are printed, not failed on.
    @Test("live equals replay: the metrics of a live run equal those of replaying its capture",
          arguments: ["cpu", "kernel"])
    func liveEqualsReplay(_ name: String) async throws {
        let run = name == "cpu" ? try await SharedRuns.shared.cpu() : try await SharedRuns.shared.kernel()
        try #require(run.captureFiles.count == 1, "one stream, one capture: \(run.captureFiles)")
        let user = try ServiceUser.ensure()
        let replayed = try Scratch.directory("replay-\(name)", owner: user).appendingPathComponent("metrics.jsonl")
        let arguments = ServiceUser.setprivArguments + [
            try Executables.path(of: "tandem-aggregator"), "replay", run.captureFiles[0].path,
            "--metrics-out", replayed.path, "--log-level", "error",
        ]
        try await onOwnThread { try runReplay("/usr/bin/setpriv", arguments) }
        let live = try MetricPoints(file: run.metricsURL)
        let offline = try MetricPoints(file: replayed)
        let workloadPIDs = Set(run.workloads.map { "\($0.pid)" })
        func isDecidedByTheStream(_ key: MetricPoints.Key) -> Bool {
            workloadPIDs.contains(key.resource["process.pid"] ?? "")
                || key.metric == "samples.user.count" || key.metric == "samples.kernel.count"
        }
        let onlyLive = live.values.filter { offline.values[$0.key] != $0.value }
        let onlyReplay = offline.values.filter { live.values[$0.key] != $0.value }
        let strictLive = onlyLive.filter { isDecidedByTheStream($0.key) }
        let strictReplay = onlyReplay.filter { isDecidedByTheStream($0.key) }
        let samples = live.values.filter { $0.key.metric == "samples.user.count" || $0.key.metric == "samples.kernel.count" }
            .values.reduce(0, +)
        let strictPoints = live.values.keys.filter(isDecidedByTheStream).count
        print("live equals replay (\(name)): \(live.values.count) live data points (\(strictPoints) compared strictly) over \(samples) samples; replay has \(offline.values.count); differing: \(strictLive.count) / \(strictReplay.count) strict, \(onlyLive.count) / \(onlyReplay.count) in all")
        try #require(strictPoints > 0)
        #expect(workloadPIDs.allSatisfy { pid in live.values.keys.contains { $0.resource["process.pid"] == pid } })
        #expect(strictLive.isEmpty && strictReplay.isEmpty, """
            live and replay differ in \(strictLive.count) / \(strictReplay.count) data points; first live ones:
            \(strictLive.keys.sorted().prefix(5).map { "\($0) = \(strictLive[$0]!) (replay \(offline.values[$0].map(String.init) ?? "none"))" }.joined(separator: "\n"))
            first replay ones:
            \(strictReplay.keys.sorted().prefix(5).map { "\($0) = \(strictReplay[$0]!) (live \(live.values[$0].map(String.init) ?? "none"))" }.joined(separator: "\n"))
            """)
        for key in onlyLive.keys.sorted().prefix(3) where !isDecidedByTheStream(key) {
            print("  (not compared strictly) \(key) = \(onlyLive[key]!) live, \(offline.values[key].map(String.init) ?? "none") replayed")
        }
    }
}
