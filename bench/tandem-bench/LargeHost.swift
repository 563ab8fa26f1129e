// `tandem-bench large-host`: the stream of a large, busy host that this 2-CPU machine is
// not (issue 17's scale test). Every CPU is busy at the sampling rate; a fixed number of
// processes live at once, each mapping one executable and a few libraries picked among
// real ELF files of this machine (so the aggregator loads, indexes and symbolizes real
// files); processes exit and new ones exec at a steady rate, so caches keyed by process
// must forget the dead. Deterministic for a seed and the same files.
//
// Two shapes of stacks. `uniform` (the first one, kept for comparison): every frame at a
// uniformly random address of a random mapping of its process, and a quarter of the
// samples with a random 2-frame kernel stack, so no two processes share code addresses and
// nearly every stack is new. `hot-code`: each ELF file has a fixed set of hot code
// addresses in its executable segments (Zipf-weighted), each executable links a fixed set
// of libraries and has a fixed set of stacks built from those hot addresses, which every
// process of it runs (at its own load addresses), and kernel stacks come from a fixed set
// of common paths (Zipf-weighted): processes of one binary run the same hot code, as on a
// real host.
import ELF
import StreamDecoding
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

struct LargeHostShape {
    var cpus = 64
    var samplesPerSecond = 99
    var processes = 2_000
    var files = 500
    var execsPerSecond = 50
    var seconds = 600
    var seed: UInt64 = 1
    var stacks: StackShape = .uniform

    enum StackShape: String {
        case uniform
        case hotCode = "hot-code"
    }
    /// Hot code addresses per file and common kernel paths (hot-code shape).
    var hotAddressesPerFile = 256
    var kernelPaths = 200
    var stacksPerExecutable = 20
}

/// Draws ranks 0..<count with probability proportional to 1 / (rank + 1) (Zipf, s = 1).
struct ZipfTable {
    private let cumulative: [Double]
    init(count: Int) {
        var total = 0.0
        cumulative = (0..<max(1, count)).map { rank in
            total += 1 / Double(rank + 1)
            return total
        }
    }
    func draw(_ random: inout SeededGenerator) -> Int {
        let target = Double(random.next() % 1_000_000_000) / 1_000_000_000 * cumulative[cumulative.count - 1]
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] <= target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// xorshift64*: a fixed sequence for a seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// One real ELF file's identity and executable segments, as a mapping needs them.
struct BenchFile {
    struct Segment {
        var virtualAddress: UInt64
        var offset: UInt64
        var size: UInt64
    }
    var path: String
    var device: UInt64
    var inode: UInt64
    var isExecutable: Bool
    var segments: [Segment]
}

/// Regular x86-64 ELF files with executable code under `directories`, in name order, at
/// most `limit` of them; a file under a bin directory counts as an executable.
func benchFiles(in directories: [String], limit: Int) -> [BenchFile] {
    var found: [BenchFile] = []
    for directory in directories {
        guard let names = try? listDirectory(directory) else { continue }
        for name in names.sorted() {
            guard found.count < limit else { return found }
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size > 4096,
                  status.st_size < 256 << 20, let bytes = readWholeFile(path),
                  let elf = try? ELFFile(bytes: bytes, name: path), elf.is64Bit, elf.machine == 62 else { continue }
            let segments = elf.programHeaders.filter { $0.type == 1 && $0.isExecutable && $0.fileSize > 0 }.map {
                BenchFile.Segment(virtualAddress: $0.virtualAddress, offset: $0.offset, size: $0.fileSize)
            }
            guard !segments.isEmpty else { continue }
            found.append(BenchFile(path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino),
                                   isExecutable: directory.hasSuffix("/bin"), segments: segments))
        }
    }
    return found
}

func listDirectory(_ path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw BenchError(description: "\(path): \(String(cString: strerror(errno)))") }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}

func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return bytes
}

/// A live simulated process: its mappings and the stacks it spends its time in.
struct BenchProcess {
    var pid: Int32
    var mappings: [Mapping]
    var stacks: [[UInt64]]
}

func generateLargeHost(_ shape: LargeHostShape, output: String) throws {
    // A quarter executables, the rest libraries.
    let files = benchFiles(in: ["/usr/bin", "/usr/sbin"], limit: max(1, shape.files / 4))
        + benchFiles(in: ["/usr/lib/x86_64-linux-gnu"], limit: shape.files - max(1, shape.files / 4))
    let executables = files.filter(\.isExecutable)
    let libraries = files.filter { !$0.isExecutable }
    guard !executables.isEmpty, !libraries.isEmpty else {
        throw BenchError(description: "no ELF executables and libraries found under /usr/bin and /usr/lib/x86_64-linux-gnu")
    }
    var random = SeededGenerator(seed: shape.seed)
    let header = StreamHeader(hostName: "large-host", kernelRelease: "6.18.0", bootID: "large-host-boot",
                              clock: ClockReference(monotonicNanoseconds: 1_000_000_000,
                                                    realtimeNanoseconds: 1_800_000_000_000_000_000),
                              cpuCount: UInt32(shape.cpus), samplesPerSecond: UInt32(shape.samplesPerSecond),
                              samplerVersion: "tandem-bench large-host")
    guard let file = fopen(output, "wb") else { throw BenchError(description: "\(output): \(String(cString: strerror(errno)))") }
    defer { fclose(file) }
    var encoder = StreamEncoder(header: header)
    let kernelBase: UInt64 = 0xffff_ffff_8100_0000
    encoder.append(.kernelSymbols(KernelSymbols(symbols: (0..<2_000).map {
        KernelSymbol(address: kernelBase + UInt64($0) * 0x400, type: UInt8(ascii: "T"), name: "kernel_function_\($0)")
    })))

    // The hot-code shape's fixed parts, from their own sequence (the uniform shape's stays as it was).
    let hot = shape.stacks == .hotCode ? HotCode(shape, executables: executables, libraries: libraries) : nil
    let stackRanks = ZipfTable(count: shape.stacksPerExecutable)

    var nextPID: Int32 = 1_000
    func spawn(at time: UInt64, random: inout SeededGenerator) -> BenchProcess {
        nextPID += 1
        let executableIndex = Int(random.next() % UInt64(executables.count))
        let executable = executables[executableIndex]
        var chosen = [executable]
        if let hot {
            chosen += hot.libraries[executableIndex].map { libraries[$0] }
        } else {
            for _ in 0..<(3 + Int(random.next() % 6)) { chosen.append(libraries[Int(random.next() % UInt64(libraries.count))]) }
        }
        var mappings: [Mapping] = []
        var bases: [UInt64] = []
        var base: UInt64 = 0x5555_0000_0000 + (random.next() % 0x1000) << 12
        for benchFile in chosen {
            bases.append(base)
            for segment in benchFile.segments {
                let start = (base + segment.virtualAddress) & ~0xfff
                let end = (base + segment.virtualAddress + segment.size + 0xfff) & ~0xfff
                mappings.append(Mapping(start: start, end: end, fileOffset: segment.offset & ~0xfff, device: benchFile.device,
                                        inode: benchFile.inode, path: benchFile.path))
            }
            base = (mappings.last!.end + 0x10_0000 + (random.next() % 0x100) << 12) & ~0xfff
        }
        let stacks: [[UInt64]]
        if let hot {
            // The executable's stacks at this process's load addresses.
            stacks = hot.stacks[executableIndex].map { template in template.map { bases[$0.slot] + $0.virtualAddress } }
        } else {
            // Twenty stacks, 5 to 30 frames, each frame in one of the process's code mappings.
            stacks = (0..<20).map { _ in
                (0..<(5 + Int(random.next() % 26))).map { _ -> UInt64 in
                    let mapping = mappings[Int(random.next() % UInt64(mappings.count))]
                    return mapping.start + random.next() % (mapping.end - mapping.start)
                }
            }
        }
        let pid = nextPID
        encoder.append(.process(ProcessInfo(pid: pid, parentPID: 1, startTime: time, comm: String(executable.path.split(separator: "/").last ?? "p").prefix(15).description,
                                            executablePath: executable.path, cgroupPath: "/system.slice/bench-\(pid % 40).service")))
        encoder.append(.mappings(Mappings(pid: pid, mappings: mappings)))
        return BenchProcess(pid: pid, mappings: mappings, stacks: stacks)
    }

    let start = header.clock.monotonicNanoseconds
    var live = (0..<shape.processes).map { _ in spawn(at: start, random: &random) }
    let sampleInterval = UInt64(1_000_000_000 / shape.samplesPerSecond)
    let execInterval = UInt64(1_000_000_000 / max(1, shape.execsPerSecond))
    let end = start + UInt64(shape.seconds) * 1_000_000_000
    var nextExec = start + execInterval
    var nextStatistics = start + 10_000_000_000
    var samples: UInt64 = 0
    var exits = 0
    var time = start
    while time < end {
        while nextExec <= time {
            let victim = Int(random.next() % UInt64(live.count))
            encoder.append(.processExit(ProcessExit(pid: live[victim].pid, time: nextExec)))
            live[victim] = spawn(at: nextExec, random: &random)
            exits += 1
            nextExec += execInterval
        }
        for cpu in 0..<shape.cpus {
            // A skewed choice: the square of a uniform variable favours the first processes,
            // as a few services take most of a host's CPU.
            let uniform = Double(random.next() % 1_000_000) / 1_000_000
            let process = live[Int(uniform * uniform * Double(live.count))]
            let stack: [UInt64]
            let kernel: [UInt64]
            if let hot {
                stack = process.stacks[stackRanks.draw(&random)]
                kernel = random.next() % 4 == 0 ? hot.kernelStacks[hot.kernelRanks.draw(&random)].map { kernelBase + $0 } : []
            } else {
                stack = process.stacks[Int(random.next() % UInt64(process.stacks.count))]
                kernel = random.next() % 4 == 0
                    ? [kernelBase + (random.next() % 2_000) * 0x400 + 0x10, kernelBase + (random.next() % 2_000) * 0x400 + 0x20] : []
            }
            let tid = process.pid + Int32(random.next() % 4)
            encoder.appendSample(time: time + UInt64(cpu) * 1_000, pid: process.pid, tid: tid, cpu: UInt32(cpu),
                                 kernelStack: kernel, userStack: stack)
            samples += 1
        }
        if time >= nextStatistics {
            encoder.append(.statistics(SamplerStatistics(time: time, counters: [.samplesCollected: samples, .samplesSent: samples])))
            nextStatistics += 10_000_000_000
        }
        if encoder.bufferedByteCount >= 1 << 20 { try write(encoder.takeBytes(), to: file, path: output) }
        time += sampleInterval
    }
    encoder.append(.statistics(SamplerStatistics(time: end, counters: [.samplesCollected: samples, .samplesSent: samples])))
    encoder.append(.endOfStream(EndOfStream(time: end, reason: .finished)))
    try write(encoder.takeBytes(), to: file, path: output)
    print("\(output): \(samples) samples, \(shape.processes) processes live, \(exits) exec/exit, "
        + "\(Set(files.map(\.path)).count) ELF files (\(executables.count) executables), \(shape.seconds) s simulated, "
        + "\(shape.stacks.rawValue) stacks")
}

/// The hot-code shape's fixed parts: per file, its hot code addresses (link-time virtual
/// addresses inside its executable segments); per executable, the libraries it links
/// and the stacks its processes run, as (file slot: 0 the executable, then its
/// libraries; virtual address) frames, leaf first; the common kernel paths (offsets from
/// the kernel's base, each in a kernel function, leaf first).
struct HotCode {
    var libraries: [[Int]]
    var stacks: [[[(slot: Int, virtualAddress: UInt64)]]]
    var kernelStacks: [[UInt64]]
    let kernelRanks: ZipfTable

    init(_ shape: LargeHostShape, executables: [BenchFile], libraries files: [BenchFile]) {
        var random = SeededGenerator(seed: shape.seed &+ 0x5EED)
        let addressRanks = ZipfTable(count: shape.hotAddressesPerFile)
        func hotAddresses(_ file: BenchFile) -> [UInt64] {
            let size = file.segments.reduce(0) { $0 + $1.size }
            return (0..<shape.hotAddressesPerFile).map { _ in
                var at = random.next() % size
                for segment in file.segments {
                    if at < segment.size { return segment.virtualAddress + at }
                    at -= segment.size
                }
                return file.segments[0].virtualAddress
            }
        }
        let executableHot = executables.map(hotAddresses)
        let libraryHot = files.map(hotAddresses)
        var libraries: [[Int]] = []
        var stacks: [[[(slot: Int, virtualAddress: UInt64)]]] = []
        for executable in executables.indices {
            let linked = (0..<(3 + Int(random.next() % 6))).map { _ in Int(random.next() % UInt64(files.count)) }
            libraries.append(linked)
            // 5 to 30 frames: the outer half in the executable (main and what it calls),
            // the inner half in the executable or one of its libraries.
            stacks.append((0..<shape.stacksPerExecutable).map { _ in
                let depth = 5 + Int(random.next() % 26)
                return (0..<depth).map { position in
                    let slot = position >= depth / 2 || random.next() % 2 == 0 ? 0 : 1 + Int(random.next() % UInt64(linked.count))
                    let hot = slot == 0 ? executableHot[executable] : libraryHot[linked[slot - 1]]
                    return (slot, hot[addressRanks.draw(&random)])
                }
            })
        }
        self.libraries = libraries
        self.stacks = stacks
        // 2 to 8 frames each, over the 2,000 kernel functions.
        kernelStacks = (0..<shape.kernelPaths).map { _ in
            (0..<(2 + Int(random.next() % 7))).map { _ in (random.next() % 2_000) * 0x400 + 0x10 + random.next() % 0x300 }
        }
        kernelRanks = ZipfTable(count: shape.kernelPaths)
    }
}
