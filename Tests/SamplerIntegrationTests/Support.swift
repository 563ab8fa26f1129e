import Foundation
import Testing
import StreamDecoding
import WireFormat

/// Live tests load BPF and read other processes' /proc files: root only.
let isRoot = getuid() == 0

/// Every live test, one at a time: each starts its own sampler, and samplers running
/// side by side would share the two CPUs and each other's interrupts.
@Suite("tandem-sampler live tests", .serialized, .enabled(if: isRoot, "needs root: loads BPF"))
enum SamplerLiveTests {}

enum TestFailure: Error, CustomStringConvertible {
    case setup(String)
    var description: String {
        switch self {
        case .setup(let message): message
        }
    }
}

/// A scratch directory, removed by the caller.
func makeScratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-sampler-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs a program to completion; throws unless it exits 0.
@discardableResult
func runToCompletion(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: output, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw TestFailure.setup("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
    }
    return text
}

/// The C programs of Tests/Workloads, compiled the way the tests need them.
enum Workload {
    static let sourceDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Workloads")

    /// Compiles Tests/Workloads/NAME.c into `directory`; returns the executable's path.
    static func build(_ name: String, in directory: URL, extraArguments: [String] = []) throws -> String {
        let output = directory.appendingPathComponent(name).path
        try runToCompletion("/usr/bin/cc", ["-O1", "-fno-omit-frame-pointer", "-o", output,
                                            sourceDirectory.appendingPathComponent("\(name).c").path] + extraArguments)
        return output
    }

    /// Compiles Tests/Workloads/NAME.c as a shared library.
    static func buildLibrary(_ name: String, in directory: URL) throws -> String {
        let output = directory.appendingPathComponent("lib\(name).so").path
        try runToCompletion("/usr/bin/cc", ["-O1", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", output,
                                            sourceDirectory.appendingPathComponent("\(name).c").path])
        return output
    }

    /// rustc: on PATH, else rustup's default place for root (CI runs as root with the
    /// machine's environment, whose PATH may lack ~/.cargo/bin); nil when neither has it.
    static var rustc: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        return (path.split(separator: ":").map { "\($0)/rustc" } + ["\(home)/.cargo/bin/rustc", "/root/.cargo/bin/rustc"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Compiles Tests/Workloads/NAME.rs with rustc's default linker (LLD on current
    /// x86-64 Linux) into `directory`; returns the executable's path.
    static func buildRust(_ name: String, in directory: URL, extraArguments: [String] = []) throws -> String {
        guard let rustc else { throw TestFailure.setup("rustc not found on PATH or in ~/.cargo/bin") }
        let output = directory.appendingPathComponent(name).path
        try runToCompletion(rustc, ["-C", "opt-level=2", "-o", output,
                                    sourceDirectory.appendingPathComponent("\(name).rs").path] + extraArguments)
        return output
    }

    /// Debian's Go toolchain (golang-go).
    static let goToolchain = "/usr/bin/go"

    /// Compiles Tests/Workloads/NAME.go with Go's defaults (no cgo, offline, caches in
    /// `directory`); returns the executable's path.
    static func buildGo(_ name: String, in directory: URL) throws -> String {
        let output = directory.appendingPathComponent(name).path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: goToolchain)
        build.arguments = ["build", "-o", output, sourceDirectory.appendingPathComponent("\(name).go").path]
        build.currentDirectoryURL = directory
        build.environment = ["PATH": "/usr/bin:/bin", "HOME": directory.path, "GOCACHE": directory.path + "/go-cache",
                             "GOPATH": directory.path + "/go-path", "GOPROXY": "off", "CGO_ENABLED": "0"]
        let pipe = Pipe()
        build.standardOutput = pipe
        build.standardError = pipe
        try build.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        guard build.terminationStatus == 0 else { throw TestFailure.setup("go build \(name).go failed: \(text)") }
        return output
    }

    /// Debian's Erlang (erlang-base).
    static let erlang = "/usr/bin/erl"

    /// Compiles Tests/Workloads/NAME.erl with erlc into `directory`; returns the directory.
    static func buildErlang(_ name: String, in directory: URL) throws -> URL {
        try runToCompletion("/usr/bin/erlc", ["-o", directory.path, sourceDirectory.appendingPathComponent("\(name).erl").path])
        return directory
    }

    /// Starts the Erlang VM with the JIT's perf support running unwind_erlang for `seconds`
    /// of CPU time; `erl` execs beam.smp, so the process is the VM.
    static func startErlang(_ moduleDirectory: URL, seconds: Int, scratch: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: erlang)
        process.arguments = ["-noshell", "+JPperf", "true", "-pa", moduleDirectory.path, "-s", "unwind_erlang", "main", "\(seconds)"]
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": scratch.path]
        try process.run()
        return process
    }

    /// Large ELF files of the Swift toolchain that built the tests (its directory is found
    /// on PATH or at /opt/swift), each under the aggregator's 256 MiB file limit: their
    /// unwind tables take seconds to compile.
    static var largeToolchainFiles: [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let binaries = (path.split(separator: ":").map(String.init) + ["/opt/swift/usr/bin"])
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/swift-frontend") } ?? "/opt/swift/usr/bin"
        let candidates = ["\(binaries)/swift-frontend", "\(binaries)/../lib/libsourcekitdInProc.so",
                          "\(binaries)/clang", "\(binaries)/lldb-server", "\(binaries)/lld"]
        return candidates.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }.filter { file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
            return size.map { $0 >= 64 << 20 && $0 < 256 << 20 } ?? false
        }
    }

    /// Starts `path` and returns the running process.
    static func start(_ path: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        return process
    }
}

/// The symbols of a workload's own symbol table (`nm`), to symbolize its user stacks.
struct SymbolTable {
    var symbols: [(address: UInt64, name: String)]
    /// Its `PT_LOAD` segments (`readelf -lW`): file offset, virtual address, file size.
    var segments: [(offset: UInt64, address: UInt64, size: UInt64)] = []

    init(binary: String) throws {
        segments = try runToCompletion("/usr/bin/readelf", ["-lW", binary]).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 5, fields[0] == "LOAD", let offset = UInt64(fields[1].dropFirst(2), radix: 16),
                  let address = UInt64(fields[2].dropFirst(2), radix: 16), let size = UInt64(fields[4].dropFirst(2), radix: 16)
            else { return nil }
            return (offset, address, size)
        }
        let text = try runToCompletion("/usr/bin/nm", ["--defined-only", binary])
        symbols = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, "tTwW".contains(fields[1]), let address = UInt64(fields[0], radix: 16) else { return nil }
            return (address, String(fields[2]))
        }.sorted { $0.address < $1.address }
    }

    func address(of name: String) -> UInt64? { symbols.first { $0.name == name }?.address }

    /// The function containing file-relative address `offset`.
    func name(containing offset: UInt64) -> String? {
        symbols.last { $0.address <= offset }?.name
    }

    /// The virtual address of the byte at `fileOffset`: equal for GNU ld's page-aligned
    /// segments, 0x1000 above it in LLD's code segment.
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        segments.first { fileOffset >= $0.offset && fileOffset - $0.offset < $0.size }.map { fileOffset - $0.offset + $0.address }
    }
}

/// tandem-sampler, the binary `swift build` produced next to this test bundle.
final class SamplerProcess {
    static var binaryPath: String {
        let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        var directory = bundle.deletingLastPathComponent()
        // The test binary is Foo.xctest (a file on Linux) in the build directory.
        while !directory.path.isEmpty, directory.path != "/" {
            let candidate = directory.appendingPathComponent("tandem-sampler").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return "tandem-sampler"
    }

    let process = Process()
    let logURL: URL

    init(arguments: [String], scratch: URL) throws {
        let binary = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure.setup("tandem-sampler was not built next to the tests; run `swift build` first")
        }
        logURL = scratch.appendingPathComponent("sampler-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: logURL)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Waits (polling its log) until the sampler reports it is sampling.
    func waitUntilSampling(timeoutSeconds: Double = 180) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            // And, unless walkers are off, until they are loaded: their loader's seconds of
            // verification would otherwise share the CPUs with the workload a test measures.
            if log.contains("] sampling"),
               process.arguments?.contains("--no-interpreter-frames") == true || log.contains("interpreter walkers ready") { return }
            if !process.isRunning { throw TestFailure.setup("tandem-sampler exited early (\(process.terminationStatus)): \(log)") }
            usleep(20_000)
        }
        throw TestFailure.setup("tandem-sampler did not start sampling within \(timeoutSeconds) s: \(log)")
    }

    /// The counters of the exit line, "stopped ... drops=D ... samples_collected=C samples_sent=S"; nil before it.
    var exitCounts: (line: String, collected: UInt64, sent: UInt64, drops: UInt64)? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains(" stopped") }) else { return nil }
        func value(_ key: String) -> UInt64? {
            line.split(separator: " ").first { $0.hasPrefix(key + "=") }.flatMap { UInt64($0.dropFirst(key.count + 1)) }
        }
        guard let collected = value("samples_collected"), let sent = value("samples_sent"), let drops = value("drops") else {
            return nil
        }
        return (String(line), collected, sent, drops)
    }

    /// SIGTERM, then waits for a clean exit.
    func stop() throws {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw TestFailure.setup("tandem-sampler ended with status \(process.terminationStatus): \(log)")
        }
    }
}

/// Decodes a capture file; one still being written (`complete: false`) up to its last whole record.
func decodeCapture(_ path: String, complete: Bool = true) throws -> [Record] {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    var decoder = StreamDecoder()
    decoder.feed(bytes)
    var records: [Record] = []
    while let record = try decoder.next() { records.append(record) }
    if complete { try decoder.finish() }
    return records
}

extension Array where Element == Record {
    var samples: [Sample] { compactMap { if case .sample(let sample) = $0 { sample } else { nil } } }
    var processRecords: [WireFormat.ProcessInfo] { compactMap { if case .process(let info) = $0 { info } else { nil } } }
    var mappingRecords: [Mappings] { compactMap { if case .mappings(let mappings) = $0 { mappings } else { nil } } }
    var exits: [ProcessExit] { compactMap { if case .processExit(let exit) = $0 { exit } else { nil } } }
    var statistics: [SamplerStatistics] { compactMap { if case .statistics(let statistics) = $0 { statistics } else { nil } } }
    var kernelSymbols: [KernelSymbol] {
        flatMap { record -> [KernelSymbol] in
            if case .kernelSymbols(let chunk) = record { return chunk.symbols }
            return []
        }
    }
}

/// Names kernel addresses with the symbols a capture streamed (sorted by address).
struct KernelSymbolNames {
    let symbols: [KernelSymbol]

    init(_ records: [Record]) { symbols = records.kernelSymbols }

    /// The symbol at or below `address`.
    func name(containing address: UInt64) -> String? {
        var low = 0, high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? symbols[low - 1].name : nil
    }
}


/// The host's CPU time from /proc/stat's `cpu` line, in clock ticks: time spent running
/// (user, nice, system, irq, softirq; guest time is inside user) and time stolen by the
/// hypervisor (steal). On a KVM guest with paravirtual time accounting a task's CPU time
/// leaves stolen time out, while a cpu-clock event's timer runs on wall time and samples the
/// task stolen from: a workload on a stolen CPU gets more samples than its CPU time says.
struct HostCPUTime {
    var running: UInt64
    var stolen: UInt64

    static func read() throws -> HostCPUTime {
        let text = try String(contentsOfFile: "/proc/stat", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else {
            throw TestFailure.setup("/proc/stat has no cpu line")
        }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { throw TestFailure.setup("/proc/stat's cpu line has \(fields.count) fields: \(line)") }
        // user nice system idle iowait irq softirq steal
        return HostCPUTime(running: fields[0] + fields[1] + fields[2] + fields[5] + fields[6], stolen: fields[7])
    }

    /// The CPU time stolen from all CPUs between `earlier` and this reading, in nanoseconds:
    /// at least what any one thread lost in that time.
    func stolenNanoseconds(since earlier: HostCPUTime) -> Int64 {
        Int64(stolen &- earlier.stolen) * 1_000_000_000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The share of the CPUs' busy time stolen between `earlier` and this reading.
    func stolenShare(since earlier: HostCPUTime) -> Double {
        let stolen = Double(self.stolen &- earlier.stolen)
        let running = Double(self.running &- earlier.running)
        return stolen + running > 0 ? stolen / (stolen + running) : 0
    }
}
