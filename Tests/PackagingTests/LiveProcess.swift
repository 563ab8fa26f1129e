import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A daemon started for a test, its standard output and error going to `logPath`.
/// `stop()` sends SIGTERM and waits; tests call it in a `defer`.
final class LiveProcess {
    let process = Process()
    let logPath: String
    private let log: FileHandle

    init(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String]? = nil) throws {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            // A traced daemon is strace's child, and strace does not pass SIGTERM on: a
            // failed test would wait for it forever.
            for child in childProcesses(of: process.processIdentifier) { kill(child, SIGTERM) }
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? log.close()
    }

    /// Waits (polling, at most `seconds`) until the log contains `text`; throws with the
    /// log if it never does or the process exits first.
    func waitForOutput(_ text: String, seconds: Double = 30) throws {
        try waitUntil(seconds: seconds, "\(process.executableURL?.lastPathComponent ?? "process") to print `\(text)`") {
            if output.contains(text) { return true }
            if !process.isRunning { throw PackagingTestError("exited with \(process.terminationStatus) before printing `\(text)`:\n\(output)") }
            return false
        }
    }
}

/// Polls `condition` every 50 ms for at most `seconds`. A wait, never a timing assertion:
/// the deadline only turns a hang into a failure with a message.
func waitUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if try condition() { return }
        if Date() > deadline { throw PackagingTestError("gave up waiting \(seconds) s for \(what)") }
        usleep(50_000)
    }
}

/// The fields of `/proc/PID/status` (`Name:\tvalue`).
func processStatus(_ pid: Int32) throws -> [String: String] {
    let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

/// A capability set field (`CapEff` ...) of `/proc/PID/status` as a bit mask.
func capabilityMask(_ status: [String: String], _ field: String) throws -> UInt64 {
    guard let text = status[field], let mask = UInt64(text, radix: 16) else {
        throw PackagingTestError("/proc/PID/status has no hexadecimal \(field): \(status[field] ?? "missing")")
    }
    return mask
}

/// Capability numbers from <linux/capability.h>, by systemd's names.
let capabilityNumbers: [String: Int] = [
    "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_SYSLOG": 34,
    "CAP_PERFMON": 38, "CAP_BPF": 39,
]

func capabilityMask(_ names: Set<String>) -> UInt64 {
    names.reduce(0) { $0 | (UInt64(1) << UInt64(capabilityNumbers[$1] ?? 63)) }
}

/// Names of the capabilities in `mask`, for messages.
func capabilityNames(_ mask: UInt64) -> [String] {
    (0..<64).filter { mask & (UInt64(1) << UInt64($0)) != 0 }.map { number in
        capabilityNumbers.first { $0.value == number }?.key ?? "cap \(number)"
    }
}

/// The uid and gid of a user from `getent passwd`.
func userIDs(_ name: String) throws -> (uid: UInt32, gid: UInt32)? {
    let result = try run("/usr/bin/getent", ["passwd", name])
    guard result.status == 0 else { return nil }
    let fields = result.standardOutput.split(separator: ":", omittingEmptySubsequences: false)
    guard fields.count > 3, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
    return (uid, gid)
}

/// The `tandem` system user, created from packaging/sysusers.d/tandem.conf exactly as
/// the package's postinst creates it, if this machine does not have it yet.
func tandemUser() throws -> (uid: UInt32, gid: UInt32) {
    if let ids = try userIDs("tandem") { return ids }
    let sysusers = try requireTool("systemd-sysusers", package: "apt-get install systemd")
    let result = try run(sysusers, [packagingFile("sysusers.d/tandem.conf").path])
    guard result.status == 0, let ids = try userIDs("tandem") else {
        throw PackagingTestError("systemd-sysusers could not create the tandem user: \(result.combined)")
    }
    return ids
}
