// tandem-wire-bench: encode and decode throughput and bytes per sample of the
// wire format on a realistic synthetic stream. Not a test: run bench/wire-bench.sh.

import StreamDecoding
import WireFormat

#if canImport(Glibc)
import Glibc
#endif

/// xorshift64*: a small seeded generator, so that every run measures the same stream.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Draws indices 0..<count with probability proportional to 1/(i+1)^exponent.
struct ZipfDistribution {
    let cumulative: [Double]
    init(count: Int, exponent: Double) {
        var sum = 0.0
        var cumulative = [Double]()
        for i in 0..<count {
            sum += 1 / pow(Double(i + 1), exponent)
            cumulative.append(sum)
        }
        self.cumulative = cumulative.map { $0 / sum }
    }
    func draw(_ random: inout SeededGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &random)
        var low = 0, high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] < u { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

struct SyntheticSample {
    var time: UInt64
    var pid: Int32
    var tid: Int32
    var cpu: UInt32
    var kernelStack: [UInt64]
    var userStack: [UInt64]
    var flags: SampleFlags
}

struct SyntheticProcess {
    var pid: Int32
    var threads: [Int32]
    var userStacks: [[UInt64]]
    var stackChoice: ZipfDistribution
    var mappings: [Mapping]
}

/// A profile of a busy two-CPU host: 12 processes (a few hot), 42 threads,
/// about 400 distinct user stacks of 10-40 frames, 60 kernel stacks of 4-16
/// frames on a third of the samples, 99 Hz per CPU with timer jitter, and a
/// statistics record every second.
struct SyntheticWorkload {
    static let cpuCount: UInt32 = 2
    static let frequency: UInt32 = 99
    static let startTime: UInt64 = 3_600_000_000_000

    var processes: [SyntheticProcess] = []
    var processChoice = ZipfDistribution(count: 12, exponent: 1.0)
    var kernelStacks: [[UInt64]] = []
    var kernelChoice = ZipfDistribution(count: 60, exponent: 1.2)
    var random = SeededGenerator(seed: 0x7A4D_E11A)

    init() {
        let stackCounts = [96, 80, 64, 40, 32, 24, 16, 16, 12, 8, 8, 4]
        // Shared library text that every process maps at its own base.
        for (index, stackCount) in stackCounts.enumerated() {
            let pid = Int32(1000 + index * 37)
            let threadCount = index < 3 ? 8 : 2
            let threads = (0..<threadCount).map { pid + Int32($0) }
            let exeBase = 0x5555_5555_0000 + UInt64(index) << 24
            let libcBase = 0x7F00_0000_0000 + UInt64(index) << 32
            var stacks: [[UInt64]] = []
            for _ in 0..<stackCount {
                let depth = Int.random(in: 10...40, using: &random)
                var stack: [UInt64] = []
                for level in 0..<depth {
                    // Leaves mostly in libc, the rest in the executable.
                    let inLibrary = level < 3 && Bool.random(using: &random)
                    let base = inLibrary ? libcBase : exeBase
                    stack.append(base + UInt64.random(in: 0x1000..<0x40_0000, using: &random))
                }
                stacks.append(stack)
            }
            let mappings = [
                Mapping(start: exeBase, end: exeBase + 0x40_0000, fileOffset: 0x1000, device: 0x803, inode: UInt64(5000 + index),
                        path: "/usr/bin/workload-\(index)"),
                Mapping(start: libcBase, end: libcBase + 0x40_0000, fileOffset: 0x28000, device: 0x803, inode: 131_072,
                        path: "/usr/lib/x86_64-linux-gnu/libc.so.6"),
                Mapping(start: 0x7FFF_F7FC_1000, end: 0x7FFF_F7FC_3000, fileOffset: 0, device: 0, inode: 0, path: "[vdso]"),
            ]
            processes.append(SyntheticProcess(pid: pid, threads: threads, userStacks: stacks,
                                              stackChoice: ZipfDistribution(count: stackCount, exponent: 1.1),
                                              mappings: mappings))
        }
        for _ in 0..<60 {
            let depth = Int.random(in: 4...16, using: &random)
            kernelStacks.append((0..<depth).map { _ in 0xFFFF_FFFF_8100_0000 + UInt64.random(in: 0..<0x100_0000, using: &random) })
        }
    }

    var header: StreamHeader {
        StreamHeader(hostName: "bench-host", kernelRelease: "6.18.0-bench", bootID: "5b1e4a8c-9d0f-4e2b-8a61-3c7d2e9f0a14",
                     clock: ClockReference(monotonicNanoseconds: Self.startTime, realtimeNanoseconds: 1_790_000_000_000_000_000),
                     cpuCount: Self.cpuCount, samplesPerSecond: Self.frequency, samplerVersion: "bench")
    }

    /// `count` samples in time order: each CPU ticks every 1/99 s with up to
    /// ±20 µs of timer jitter.
    mutating func samples(_ count: Int) -> [SyntheticSample] {
        let period = 1_000_000_000 / UInt64(Self.frequency)
        var next = (0..<UInt64(Self.cpuCount)).map { Self.startTime + $0 * period / UInt64(Self.cpuCount) }
        var samples: [SyntheticSample] = []
        samples.reserveCapacity(count)
        while samples.count < count {
            let cpu = next.indices.min { next[$0] < next[$1] }!
            let jitter = UInt64.random(in: 0..<40_000, using: &random)
            let time = next[cpu] + jitter - 20_000
            next[cpu] += period
            let process = processes[processChoice.draw(&random)]
            let tid = process.threads[Int.random(in: 0..<process.threads.count, using: &random)]
            let user = process.userStacks[process.stackChoice.draw(&random)]
            let kernel = Int.random(in: 0..<3, using: &random) == 0 ? kernelStacks[kernelChoice.draw(&random)] : []
            let flags: SampleFlags = Int.random(in: 0..<20, using: &random) == 0 ? .userStackTruncated : []
            samples.append(SyntheticSample(time: time, pid: process.pid, tid: tid, cpu: UInt32(cpu),
                                           kernelStack: kernel, userStack: user, flags: flags))
        }
        return samples
    }
}

/// CPU time of this thread: on a shared machine, wall time would count other
/// processes' turns on the core too.
func nowNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Encodes `samples` after the process state, with a statistics record every
/// second of stream time; returns the stream and the byte count at `mark`
/// samples (where the steady state is measured from).
func encode(_ samples: [SyntheticSample], workload: SyntheticWorkload, mark: Int) -> (bytes: [UInt8], bytesAtMark: Int) {
    var encoder = StreamEncoder(header: workload.header)
    for process in workload.processes {
        encoder.append(.process(ProcessInfo(pid: process.pid, parentPID: 1, startTime: 1_000_000, comm: "workload",
                                            executablePath: process.mappings[0].path, cgroupPath: "/system.slice/workload.service")))
        encoder.append(.mappings(Mappings(pid: process.pid, mappings: process.mappings)))
    }
    var out: [UInt8] = []
    out.reserveCapacity(samples.count * 16)
    var bytesAtMark = 0
    var nextStatistics = SyntheticWorkload.startTime + 1_000_000_000
    for (index, sample) in samples.enumerated() {
        if index == mark { out.append(contentsOf: encoder.takeBytes()); bytesAtMark = out.count }
        if sample.time >= nextStatistics {
            encoder.append(.statistics(SamplerStatistics(time: sample.time, counters: [
                .samplesCollected: UInt64(index), .samplesSent: UInt64(index), .dropsRingBufferFull: 0,
                .dropsUserBufferFull: 0, .samplerUserCPUNanoseconds: UInt64(index) * 900,
                .samplerSystemCPUNanoseconds: UInt64(index) * 2_100, .bytesSent: UInt64(out.count),
            ])))
            nextStatistics += 1_000_000_000
        }
        encoder.appendSample(time: sample.time, pid: sample.pid, tid: sample.tid, cpu: sample.cpu,
                             kernelStack: sample.kernelStack, userStack: sample.userStack, flags: sample.flags)
        if encoder.bufferedByteCount >= 64 << 10 { out.append(contentsOf: encoder.takeBytes()) }
    }
    encoder.append(.endOfStream(EndOfStream(time: samples.last?.time ?? 0, reason: .finished)))
    out.append(contentsOf: encoder.takeBytes())
    return (out, bytesAtMark)
}

/// Decodes `bytes` fed in 64 KiB chunks, as from a socket; returns the sample count.
func decode(_ bytes: [UInt8]) throws -> (samples: Int, frames: Int) {
    var decoder = StreamDecoder()
    var samples = 0
    var frames = 0
    var index = 0
    while index < bytes.count {
        let end = min(bytes.count, index + 64 << 10)
        decoder.feed(bytes[index..<end])
        while let record = try decoder.next() {
            if case .sample(let sample) = record {
                samples += 1
                frames &+= sample.userStack.count
            }
        }
        index = end
    }
    try decoder.finish()
    return (samples, frames)
}

@main
struct WireBench {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let sampleCount = arguments.first.flatMap { Int($0) } ?? 2_000_000
        // `decode-only`: encode once, then decode repeatedly (for profiling the decoder).
        let decodeOnly = arguments.dropFirst().first == "decode-only"
        let repetitions = 5
        var workload = SyntheticWorkload()
        let samples = workload.samples(sampleCount)
        let distinctUser = Set(samples.map(\.userStack)).count
        let distinctKernel = Set(samples.map(\.kernelStack).filter { !$0.isEmpty }).count
        let warmUp = min(sampleCount / 4, 200_000)

        var bestEncode = UInt64.max
        var encoded: (bytes: [UInt8], bytesAtMark: Int) = ([], 0)
        for _ in 0..<(decodeOnly ? 1 : repetitions) {
            let start = nowNanoseconds()
            encoded = encode(samples, workload: workload, mark: warmUp)
            bestEncode = min(bestEncode, nowNanoseconds() - start)
        }
        var bestDecode = UInt64.max
        var decodedSamples = 0
        for _ in 0..<(decodeOnly ? 4 * repetitions : repetitions) {
            let start = nowNanoseconds()
            decodedSamples = try decode(encoded.bytes).samples
            bestDecode = min(bestDecode, nowNanoseconds() - start)
        }
        precondition(decodedSamples == sampleCount, "decoded \(decodedSamples) of \(sampleCount) samples")
        // `write PATH`: keep the stream as a capture file (e.g. to time `inspect`).
        if arguments.dropFirst().first == "write", let path = arguments.dropFirst(2).first {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            precondition(fd >= 0, "open \(path) failed")
            let written = encoded.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            precondition(written == encoded.bytes.count, "write \(path) failed")
            close(fd)
        }

        let steadyBytes = encoded.bytes.count - encoded.bytesAtMark
        func rate(_ nanoseconds: UInt64) -> String {
            String(Int((Double(sampleCount) / (Double(nanoseconds) / 1e9)).rounded()))
        }
        func fixed(_ value: Double) -> String {
            let scaled = Int((value * 100).rounded())
            return "\(scaled / 100).\(scaled % 100 < 10 ? "0" : "")\(scaled % 100)"
        }
        print("""
            samples                 \(sampleCount) (\(distinctUser) distinct user stacks, \(distinctKernel) kernel stacks, 12 processes, 42 threads, 2 CPUs at 99 Hz)
            stream bytes            \(encoded.bytes.count)
            bytes/sample (all)      \(fixed(Double(encoded.bytes.count) / Double(sampleCount)))
            bytes/sample (steady)   \(fixed(Double(steadyBytes) / Double(sampleCount - warmUp))) (after the first \(warmUp) samples)
            encode                  \(rate(bestEncode)) samples/s (\(fixed(Double(bestEncode) / Double(sampleCount))) ns/sample, best of \(repetitions), thread CPU time)
            decode                  \(rate(bestDecode)) samples/s (\(fixed(Double(bestDecode) / Double(sampleCount))) ns/sample, best of \(repetitions), thread CPU time)
            """)
    }
}
