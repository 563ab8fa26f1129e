import Foundation
import Logging
import WireFormat

/// Fixture sources next to this file, compiled at test time into a temporary directory.
enum Fixtures {
    static let sourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static func source(_ name: String) -> String { sourceDirectory + "/" + name }
}

struct CommandFailure: Error, CustomStringConvertible {
    var command: [String]
    var status: Int32
    var output: String
    var description: String { "\(command.joined(separator: " ")) exited with \(status): \(output)" }
}

/// The path of a compiler or tool: from PATH, else rustup's and Swift's usual places.
func tool(_ name: String) -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
    let directories = path.split(separator: ":").map(String.init) + [home + "/.cargo/bin", "/root/.cargo/bin", "/opt/swift/usr/bin", "/usr/lib/go/bin"]
    for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
        return directory + "/" + name
    }
    return name
}

/// Runs a tool to completion; returns its standard output, throws with its stderr on failure.
@discardableResult
func run(_ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool(arguments[0])] + arguments.dropFirst()
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailure(command: arguments, status: process.terminationStatus,
                             output: String(decoding: errorData, as: UTF8.self))
    }
    return String(decoding: outputData, as: UTF8.self)
}

/// A fresh temporary directory, removed by `remove()`.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/tandem-symbolization-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A running fixture that printed `name address` lines and waits for stdin to close.
final class FixtureProcess {
    let process = Process()
    private let input = Pipe()
    let pid: Int32
    /// The addresses the process printed, by name.
    let addresses: [String: UInt64]

    init(executable: String, arguments: [String] = [], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        pid = process.processIdentifier
        var text = ""
        var addresses: [String: UInt64] = [:]
        // Lines until the process has printed all it prints before waiting (4 lines).
        while addresses.count < 4 {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            addresses = [:]
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 2 else { continue }
                let hex = fields[1].hasPrefix("0x") ? fields[1].dropFirst(2) : fields[1]
                if let value = UInt64(hex, radix: 16) { addresses[String(fields[0])] = value }
            }
        }
        self.addresses = addresses
    }

    func address(_ name: String) throws -> UInt64 {
        guard let address = addresses[name] else { throw CommandFailure(command: ["address", name], status: -1, output: "not printed") }
        return address
    }

    /// The executable mappings of /proc/PID/maps, as the sampler sends them.
    func mappings() throws -> Mappings {
        let text = try readProcFile("/proc/\(pid)/maps")
        return Mappings(pid: pid, mappings: parseMaps(text))
    }

    func processInfo(cgroupPath: String = "/user.slice/test.scope") throws -> WireFormat.ProcessInfo {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        return WireFormat.ProcessInfo(pid: pid, parentPID: getpid(), startTime: 0, comm: String(executable.split(separator: "/").last!.prefix(15)),
                                      executablePath: executable, cgroupPath: cgroupPath)
    }

    func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }
}

/// Reads a procfs file to its end (their size is 0, so size-based reads see nothing or a part).
func readProcFile(_ path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw CommandFailure(command: ["open", path], status: -1, output: "cannot open")
    }
    defer { try? handle.close() }
    var data = Data()
    while let chunk = try handle.read(upToCount: 65536), !chunk.isEmpty { data += chunk }
    return String(decoding: data, as: UTF8.self)
}

/// glibc's `makedev`: the encoding of `st_dev` and of the sampler's `Mapping.device`.
func makeDevice(major: UInt64, minor: UInt64) -> UInt64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

/// Parses /proc/PID/maps lines with execute permission.
func parseMaps(_ text: String) -> [Mapping] {
    var mappings: [Mapping] = []
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5, fields[1].contains("x") else { continue }
        let range = fields[0].split(separator: "-")
        let device = fields[3].split(separator: ":")
        guard range.count == 2, device.count == 2,
              let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
              let offset = UInt64(fields[2], radix: 16),
              let major = UInt64(device[0], radix: 16), let minor = UInt64(device[1], radix: 16),
              let inode = UInt64(fields[4])
        else { continue }
        let path = fields.count == 6 ? String(fields[5].drop { $0 == " " }) : ""
        mappings.append(Mapping(start: start, end: end, fileOffset: offset,
                                device: makeDevice(major: major, minor: minor), inode: inode, path: path))
    }
    return mappings
}

/// Function sizes from `nm -S`, by name.
func symbolSizes(_ file: String) throws -> [String: UInt64] {
    var sizes: [String: UInt64] = [:]
    for line in try run(["nm", "-S", file]).split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count == 4, let size = UInt64(fields[1], radix: 16) else { continue }
        sizes[String(fields[3])] = size
    }
    return sizes
}

/// Mangled names from `nm` (defined text symbols).
func textSymbols(_ file: String) throws -> [String] {
    try run(["nm", file]).split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        guard fields.count == 3, ["t", "T", "w", "W"].contains(fields[1]) else { return nil }
        return String(fields[2])
    }
}

/// A C fixture build: the PIE executable linked to a shared library, both with -g and build ids.
struct CFixture {
    let directory: TemporaryDirectory
    let executable: String
    let library: String

    init() throws {
        directory = try TemporaryDirectory()
        library = directory.file("libtandemfixture.so")
        executable = directory.file("tandem-fixture")
        try run(["cc", "-g", "-O1", "-fPIC", "-shared", "-Wl,--build-id", "-o", library, Fixtures.source("fixture_library.c")])
        try run(["cc", "-g", "-O1", "-fPIE", "-pie", "-Wl,--build-id", "-o", executable, Fixtures.source("fixture_main.c"),
                 "-L", directory.path, "-ltandemfixture", "-Wl,-rpath," + directory.path])
    }

    /// The build id of a file as hex, from `readelf -n`.
    static func buildID(_ file: String) throws -> String {
        for line in try run(["readelf", "-n", file]).split(separator: "\n") where line.contains("Build ID:") {
            return String(line.split(separator: " ").last!)
        }
        throw CommandFailure(command: ["readelf", "-n", file], status: -1, output: "no build id")
    }
}

/// Collects log messages, to check what a failure reports.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] = []

    var entries: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] {
        lock.withLock { recorded }
    }

    func append(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        lock.withLock { recorded.append((level, message, metadata)) }
    }

    var logger: Logger {
        Logger(label: "tandem.symbolization.tests") { _ in RecordingLogHandler(recorder: self) }
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.append(event.level, event.message.description, metadata.merging(event.metadata ?? [:]) { $1 })
    }
}

func testLogger() -> Logger {
    var logger = Logger(label: "tandem.symbolization.tests")
    logger.logLevel = .critical
    return logger
}
