// tandem-bench: builds and describes the captures of bench/replay-throughput.sh.
//
//   tandem-bench amplify IN OUT --min-samples N   IN's samples, repeated with shifted times until OUT has >= N
//   tandem-bench count FILE                       samples, distinct stacks, processes and time span of FILE
//   tandem-bench pids N OUT                       a stream of N distinct processes (process, mappings
//                                                 and one sample each) in one second: the memory bound test
//   tandem-bench ksyms N OUT                      a stream of N kernel symbols with 200-byte names
//   tandem-bench large-host OUT [--seconds S] [--cpus N] [--processes N] [--files N] [--execs-per-second N]
//                               [--seed N] [--shape uniform|hot-code]
//                                                 a busy large host's stream over real ELF files (LargeHost.swift)
//
// Amplifying keeps stacks, processes and mappings real: the first pass is IN
// record for record (process exits held back to the end, so later passes find
// every process it had); each later pass repeats IN's samples only, every time
// shifted by the capture's span, re-encoded through StreamEncoder as the
// sampler encodes them. A process that exec'd during IN keeps its last
// mappings in later passes.
import StreamDecoding
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

/// Every record of the capture at `path`, in order.
func readCapture(_ path: String) throws -> (StreamHeader, [Record]) {
    guard let file = fopen(path, "rb") else {
        throw BenchError(description: "\(path): \(String(cString: strerror(errno))) (name an existing capture file)")
    }
    defer { fclose(file) }
    var decoder = StreamDecoder()
    var records: [Record] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count == 0 { break }
        decoder.feed(chunk[..<count])
        while let record = try decoder.next() { records.append(record) }
    }
    try decoder.finish()
    guard let header = decoder.header else { throw BenchError(description: "\(path): no stream header") }
    return (header, records)
}

func write(_ bytes: [UInt8], to file: UnsafeMutablePointer<FILE>, path: String) throws {
    let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    guard written == bytes.count else {
        throw BenchError(description: "\(path): write failed: \(String(cString: strerror(errno)))")
    }
}

func amplify(input: String, output: String, minimumSamples: Int) throws {
    let (header, records) = try readCapture(input)
    let samples = records.compactMap { record -> Sample? in
        if case .sample(let sample) = record { sample } else { nil }
    }
    guard let first = samples.map(\.time).min(), let last = samples.map(\.time).max() else {
        throw BenchError(description: "\(input): no samples to amplify")
    }
    let interval = UInt64(1_000_000_000 / max(1, header.samplesPerSecond))
    let span = last - first + interval
    let passes = max(1, (minimumSamples + samples.count - 1) / samples.count)

    guard let file = fopen(output, "wb") else {
        throw BenchError(description: "\(output): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var encoder = StreamEncoder(header: header)
    func append(_ sample: Sample, shift: UInt64) {
        encoder.appendSample(time: sample.time + shift, pid: sample.pid, tid: sample.tid, cpu: sample.cpu,
                             kernelStack: sample.kernelStack, userStack: sample.userStack, flags: sample.flags,
                             threadName: ThreadName(sample.threadName))
    }
    func drain() throws {
        if encoder.bufferedByteCount >= 1 << 20 { try write(encoder.takeBytes(), to: file, path: output) }
    }
    var exits: [ProcessExit] = []
    var lastStatistics: SamplerStatistics?
    for record in records {
        switch record {
        case .sample(let sample): append(sample, shift: 0)
        case .processExit(let exit): exits.append(exit)
        case .statistics(let statistics): lastStatistics = statistics
        case .endOfStream, .header, .stackDefinition, .threadDefinition, .unknown: break
        default: encoder.append(record)
        }
        try drain()
    }
    for pass in 1..<passes {
        let shift = UInt64(pass) * span
        for sample in samples {
            append(sample, shift: shift)
            try drain()
        }
    }
    let end = last + UInt64(passes - 1) * span + interval
    for exit in exits { encoder.append(.processExit(ProcessExit(pid: exit.pid, time: end))) }
    if var statistics = lastStatistics {
        statistics.time = end
        encoder.append(.statistics(statistics))
    }
    encoder.append(.endOfStream(EndOfStream(time: end, reason: .finished)))
    try write(encoder.takeBytes(), to: file, path: output)
    print("\(output): \(samples.count * passes) samples (\(passes) passes of \(samples.count)), "
        + "\(encoder.interningResets) interning resets")
}

/// A user frame's code as its file has it (a frame outside file mappings: by pid and address).
struct FileFrame: Hashable {
    var device: UInt64
    var inode: UInt64
    var offset: UInt64
}

func count(_ path: String) throws {
    let (header, records) = try readCapture(path)
    var samples = 0, processes = 0, kernelSymbols = 0
    var stacks = Set<[UInt64]>(), pids = Set<Int32>()
    var kernelStacks = Set<[UInt64]>(), userStacks = Set<[UInt64]>()
    // User frames as (file, offset), the same in every process that maps the file: how
    // much code the host's processes share, whatever their load addresses.
    var mappings: [Int32: [Mapping]] = [:]
    var fileFrames = Set<FileFrame>(), userFrames = 0
    var first = UInt64.max, last: UInt64 = 0
    for record in records {
        switch record {
        case .mappings(let record):
            mappings[record.pid] = record.mappings.sorted { $0.start < $1.start }
        case .sample(let sample):
            samples += 1
            stacks.insert(sample.kernelStack + [0] + sample.userStack)
            if !sample.kernelStack.isEmpty { kernelStacks.insert(sample.kernelStack) }
            if !sample.userStack.isEmpty { userStacks.insert(sample.userStack) }
            let mapped = mappings[sample.pid] ?? []
            for address in sample.userStack {
                userFrames += 1
                if let mapping = mapped.last(where: { $0.start <= address }), address < mapping.end, mapping.inode != 0 {
                    fileFrames.insert(FileFrame(device: mapping.device, inode: mapping.inode,
                                                offset: address - mapping.start + mapping.fileOffset))
                } else {
                    fileFrames.insert(FileFrame(device: 0, inode: UInt64(UInt32(bitPattern: sample.pid)), offset: address))
                }
            }
            pids.insert(sample.pid)
            first = min(first, sample.time)
            last = max(last, sample.time)
        case .process: processes += 1
        case .kernelSymbols(let chunk): kernelSymbols += chunk.symbols.count
        default: break
        }
    }
    let seconds = samples == 0 ? 0 : Double(last - first) / 1e9
    print("samples=\(samples) distinct_stacks=\(stacks.count) distinct_kernel_stacks=\(kernelStacks.count) "
        + "distinct_user_stacks=\(userStacks.count) user_frames=\(userFrames) distinct_file_frames=\(fileFrames.count) sampled_pids=\(pids.count) process_records=\(processes) "
        + "kernel_symbols=\(kernelSymbols) span_seconds=\(seconds) cpus=\(header.cpuCount) hz=\(header.samplesPerSecond)")
}

/// A hostile (or very busy) stream: `count` processes, each described, mapped and sampled
/// once, all within one second of stream time (one metrics window).
func manyProcesses(count: Int, output: String) throws {
    guard let file = fopen(output, "wb") else {
        throw BenchError(description: "\(output): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    let header = StreamHeader(hostName: "bench-host", kernelRelease: "6.18.0", bootID: "boot",
                              clock: ClockReference(monotonicNanoseconds: 1_000_000_000,
                                                    realtimeNanoseconds: 1_800_000_000_000_000_000),
                              cpuCount: 2, samplesPerSecond: 99, samplerVersion: "bench")
    var encoder = StreamEncoder(header: header)
    encoder.append(.kernelSymbols(KernelSymbols(symbols: [
        KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "entry_SYSCALL_64"),
        KernelSymbol(address: 0xffff_ffff_8100_1000, type: UInt8(ascii: "T"), name: "__x64_sys_write"),
    ])))
    let start = header.clock.monotonicNanoseconds
    let step = UInt64(1_000_000_000 / max(1, count))
    for index in 0..<count {
        let pid = Int32(100 + index)
        encoder.append(.process(ProcessInfo(pid: pid, parentPID: 1, startTime: UInt64(index + 1), comm: "p\(index)",
                                            executablePath: "/usr/bin/p\(index)", cgroupPath: "/")))
        encoder.append(.mappings(Mappings(pid: pid, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0001_0000, fileOffset: 0, device: 0, inode: UInt64(index + 1),
                    path: "/usr/bin/p\(index)"),
        ])))
        encoder.appendSample(time: start + UInt64(index) * step, pid: pid, tid: pid, cpu: 0,
                             kernelStack: [0xffff_ffff_8100_1010, 0xffff_ffff_8100_0020],
                             userStack: [0x5555_0000_1010, 0x5555_0000_2020])
        if encoder.bufferedByteCount >= 1 << 20 { try write(encoder.takeBytes(), to: file, path: output) }
    }
    let end = start + 1_000_000_000
    encoder.append(.statistics(SamplerStatistics(time: end, counters: [.samplesCollected: UInt64(count)])))
    encoder.append(.endOfStream(EndOfStream(time: end, reason: .finished)))
    try write(encoder.takeBytes(), to: file, path: output)
    print("\(output): \(count) processes, one sample each")
}

/// A kernel-symbol flood: `count` text symbols with 200-byte names, then one sample.
func kernelSymbolFlood(count: Int, output: String) throws {
    guard let file = fopen(output, "wb") else {
        throw BenchError(description: "\(output): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    let header = StreamHeader(hostName: "bench-host", kernelRelease: "6.18.0", bootID: "boot",
                              clock: ClockReference(monotonicNanoseconds: 1_000_000_000,
                                                    realtimeNanoseconds: 1_800_000_000_000_000_000),
                              cpuCount: 2, samplesPerSecond: 99, samplerVersion: "bench")
    var encoder = StreamEncoder(header: header)
    let padding = String(repeating: "k", count: 190)
    var chunk: [KernelSymbol] = []
    for index in 0..<count {
        chunk.append(KernelSymbol(address: 0xffff_ffff_8100_0000 + UInt64(index) * 16, type: UInt8(ascii: "T"),
                                  name: "\(padding)_\(String(index, radix: 16))"))
        if chunk.count == 4096 || index == count - 1 {
            encoder.append(.kernelSymbols(KernelSymbols(symbols: chunk)))
            chunk = []
            if encoder.bufferedByteCount >= 1 << 20 { try write(encoder.takeBytes(), to: file, path: output) }
        }
    }
    let time = header.clock.monotonicNanoseconds + 1_000_000
    encoder.appendSample(time: time, pid: 100, tid: 100, cpu: 0, kernelStack: [0xffff_ffff_8100_0010], userStack: [])
    encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished)))
    try write(encoder.takeBytes(), to: file, path: output)
    print("\(output): \(count) kernel symbols")
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "amplify":
        guard arguments.count == 5, arguments[3] == "--min-samples", let minimum = Int(arguments[4]), minimum > 0 else {
            throw BenchError(description: "usage: tandem-bench amplify IN OUT --min-samples N")
        }
        try amplify(input: arguments[1], output: arguments[2], minimumSamples: minimum)
    case "pids":
        guard arguments.count == 3, let count = Int(arguments[1]), count > 0 else {
            throw BenchError(description: "usage: tandem-bench pids N OUT")
        }
        try manyProcesses(count: count, output: arguments[2])
    case "ksyms":
        guard arguments.count == 3, let count = Int(arguments[1]), count > 0 else {
            throw BenchError(description: "usage: tandem-bench ksyms N OUT")
        }
        try kernelSymbolFlood(count: count, output: arguments[2])
    case "count":
        guard arguments.count == 2 else { throw BenchError(description: "usage: tandem-bench count FILE") }
        try count(arguments[1])
    case "large-host":
        let usage = "usage: tandem-bench large-host OUT [--seconds S] [--cpus N] [--processes N] [--files N] [--execs-per-second N] [--seed N] [--shape uniform|hot-code]"
        guard arguments.count >= 2, arguments.count % 2 == 0 else { throw BenchError(description: usage) }
        var shape = LargeHostShape()
        for index in stride(from: 2, to: arguments.count, by: 2) {
            if arguments[index] == "--shape" {
                guard let stacks = LargeHostShape.StackShape(rawValue: arguments[index + 1]) else { throw BenchError(description: usage) }
                shape.stacks = stacks
                continue
            }
            guard let value = Int(arguments[index + 1]), value > 0 else { throw BenchError(description: usage) }
            switch arguments[index] {
            case "--seconds": shape.seconds = value
            case "--cpus": shape.cpus = value
            case "--processes": shape.processes = value
            case "--files": shape.files = value
            case "--execs-per-second": shape.execsPerSecond = value
            case "--seed": shape.seed = UInt64(value)
            default: throw BenchError(description: usage)
            }
        }
        try generateLargeHost(shape, output: arguments[1])
    default:
        throw BenchError(description: "usage: tandem-bench amplify IN OUT --min-samples N | count FILE | pids N OUT | ksyms N OUT | large-host OUT ...")
    }
} catch {
    let message = Array("tandem-bench: \(error)\n".utf8)
    _ = message.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    exit(1)
}
