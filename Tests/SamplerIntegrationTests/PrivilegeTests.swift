import Foundation
import Testing
import WireFormat

extension SamplerLiveTests {
@Suite("tandem-sampler's privileges (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF"))
struct PrivilegeTests {
    static let requiredCapabilities = "bpf,perfmon,syslog,sys_ptrace"

    /// Runs tandem-sampler as user nobody through setpriv(1), with `capabilities` ambient.
    func runAsNobody(capabilities: String?, arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        var setprivArguments = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        if let capabilities {
            setprivArguments += ["--inh-caps=+\(capabilities.replacingOccurrences(of: ",", with: ",+"))",
                                 "--ambient-caps=+\(capabilities.replacingOccurrences(of: ",", with: ",+"))"]
        }
        process.arguments = setprivArguments + [SamplerProcess.binaryPath] + arguments
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        let stderr = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stderr, as: UTF8.self))
    }

    @Test("without capabilities it refuses to start and names every missing one")
    func missingCapabilities() throws {
        let result = try runAsNobody(capabilities: nil, arguments: ["--output", "/dev/null", "--duration", "1"])
        #expect(result.status == 77)
        #expect(result.stderr.contains("missing capabilities: CAP_BPF, CAP_PERFMON, CAP_SYSLOG, CAP_SYS_PTRACE"))
    }

    @Test("an unprivileged user with exactly the four start-up capabilities can sample every process")
    func unprivilegedUserWithCapabilities() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        chmod(scratch.path, 0o777)
        let spin = try Workload.build("spin", in: scratch)
        let capture = scratch.appendingPathComponent("nobody.tandem").path
        // A root-owned workload: its maps and exe are only readable with CAP_SYS_PTRACE.
        let workload = try Workload.start(spin, ["30"])
        defer { workload.terminate() }
        let result = try runAsNobody(capabilities: Self.requiredCapabilities,
                                     arguments: ["--output", capture, "--duration", "2", "--samples-per-second", "99"])
        #expect(result.status == 0, "\(result.stderr)")
        let records = try decodeCapture(capture)
        let process = try #require(records.processRecords.first { $0.pid == workload.processIdentifier })
        #expect(process.executablePath == spin)
        #expect(records.mappingRecords.contains { $0.pid == workload.processIdentifier && $0.mappings.contains { $0.path == spin } })
        #expect(records.samples.contains { $0.pid == workload.processIdentifier })
    }
}
}
