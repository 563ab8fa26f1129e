import Foundation
import SamplerCore
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The capabilities tandem-sampler requires at start-up and keeps afterwards, as the
/// sampler itself declares them (and docs/security.md justifies them), in systemd's
/// spelling: the units and the manifest must grant exactly these.
let samplerCapabilitiesAtStart = Set(ProcessCapabilities.requiredAtStart.map(\.description))
let samplerCapabilitiesKept = Set(ProcessCapabilities.keptAfterStart.map(\.description))

/// What the units and the manifest grant: exactly the sampler's own set.
let samplerGrantedCapabilities = samplerCapabilitiesAtStart

/// Highest `systemd-analyze security` exposure each service may have (issue 6).
let exposureLimits: [String: Double] = [TandemUnits.aggregator: 2.0, TandemUnits.sampler: 4.5]

@Suite("systemd units")
struct SystemdUnitTests {
    @Test("systemd-analyze verify reports nothing, with the real binaries at their ExecStart paths")
    func verify() throws {
        let systemdAnalyze = try requireTool("systemd-analyze", package: "apt-get install systemd")
        let root = try TemporaryDirectory(prefix: "tandem-verify")
        defer { root.cleanup() }
        let unitDirectory = root.url.appendingPathComponent("lib/systemd/system")
        let binDirectory = root.url.appendingPathComponent("usr/bin")
        try FileManager.default.createDirectory(at: unitDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: binDirectory, withIntermediateDirectories: true)
        // The units the ours depend on (sockets.target, network-online.target, ...) come
        // from this machine's systemd.
        let copied = try shell("cp -an /lib/systemd/system/. '\(unitDirectory.path)/'")
        #expect(copied.status == 0, "copying the system's units failed: \(copied.combined)")
        for name in TandemUnits.all {
            try FileManager.default.copyItem(atPath: TandemUnits.path(name),
                                             toPath: unitDirectory.appendingPathComponent(name).path)
        }
        for binary in ["tandem-sampler", "tandem-aggregator"] {
            // The file itself, not a symbolic link that would point outside the root.
            let product = URL(fileURLWithPath: try builtProduct(binary)).resolvingSymlinksInPath().path
            try FileManager.default.copyItem(atPath: product,
                                             toPath: binDirectory.appendingPathComponent(binary).path)
        }
        let result = try run(systemdAnalyze, ["verify", "--root=\(root.path)"] + TandemUnits.all)
        // verify exits 0 on unknown keys and unparsable values (it ignores them), so any
        // output at all is a failure.
        #expect(result.status == 0)
        #expect(result.combined.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "systemd-analyze verify: \(result.combined)")
    }

    @Test("verify notices what it must notice (a unit whose binary is missing)")
    func verifyCanFail() throws {
        let systemdAnalyze = try requireTool("systemd-analyze", package: "apt-get install systemd")
        let directory = try TemporaryDirectory(prefix: "tandem-verify-bad")
        defer { directory.cleanup() }
        let unit = directory.url.appendingPathComponent("tandem-missing.service")
        try "[Service]\nExecStart=/nonexistent/tandem-sampler\nProtectSystem=sideways\n"
            .write(to: unit, atomically: true, encoding: .utf8)
        let result = try run(systemdAnalyze, ["verify", unit.path])
        #expect(result.combined.contains("/nonexistent/tandem-sampler"))
        #expect(result.combined.contains("sideways"))
    }

    @Test("exposure scores stay within the limits", arguments: [TandemUnits.aggregator, TandemUnits.sampler])
    func exposure(unit: String) throws {
        let score = try exposureScore(unitPath: TandemUnits.path(unit))
        let limit = try #require(exposureLimits[unit])
        print("systemd-analyze security --offline=yes \(unit): \(score) (limit \(limit))")
        #expect(score <= limit, "\(unit) exposure \(score) is above \(limit)")
    }

    @Test("the sampler's capabilities are exactly the documented set, none ambient")
    func samplerCapabilities() throws {
        let unit = try TandemUnits.load(TandemUnits.sampler)
        #expect(Set(unit.words("CapabilityBoundingSet")) == samplerGrantedCapabilities)
        // Root gets its capabilities from the bounding set; nothing is ambient.
        #expect(unit.words("AmbientCapabilities").isEmpty)
        #expect(unit.value("User") == nil || unit.value("User") == "root")
        #expect(unit.value("NoNewPrivileges") == "yes")
        // ProtectKernelLogs= would strip CAP_SYSLOG and ProtectKernelTunables= would
        // hide /proc/kallsyms: both would break the start-up the capabilities are for.
        #expect(unit.value("ProtectKernelLogs") != "yes")
        #expect(unit.value("ProtectKernelTunables") != "yes")
        #expect(unit.value("ProcSubset") == nil && unit.value("ProtectProc") == nil,
                "the sampler must see every process and /proc/kallsyms")
    }

    @Test("the sampler has no network and may only create Unix sockets")
    func samplerNetwork() throws {
        let unit = try TandemUnits.load(TandemUnits.sampler)
        #expect(unit.value("PrivateNetwork") == "yes")
        #expect(unit.words("RestrictAddressFamilies") == ["AF_UNIX"])
        #expect(unit.value("IPAddressDeny") == "any")
    }

    @Test("the sampler's system call filter allows bpf, perf_event_open and capability dropping")
    func samplerSystemCalls() throws {
        let allowed = try allowedSystemCalls(try TandemUnits.load(TandemUnits.sampler))
        let serviceSet = try systemCalls(of: "@system-service")
        // The two calls the sampler exists for are outside @system-service: the unit
        // must add them explicitly.
        #expect(!serviceSet.contains("bpf") && !serviceSet.contains("perf_event_open"))
        for call in ["bpf", "perf_event_open", "capget", "capset", "prctl", "ioctl", "mmap",
                     "epoll_wait", "epoll_pwait", "socket", "connect", "sendmsg", "openat", "read"] {
            #expect(allowed.contains(call), "SystemCallFilter of tandem-sampler.service denies \(call)")
        }
        for call in ["mount", "init_module", "kexec_load", "reboot", "swapon", "ptrace", "process_vm_readv",
                     "process_vm_writev", "pidfd_getfd", "kcmp"] {
            #expect(!allowed.contains(call), "SystemCallFilter of tandem-sampler.service allows \(call)")
        }
    }

    @Test("the aggregator runs as its own user with no capability at all")
    func aggregatorPrivileges() throws {
        let unit = try TandemUnits.load(TandemUnits.aggregator)
        #expect(unit.value("User") == "tandem")
        #expect(unit.value("Group") == "tandem")
        #expect(unit.words("CapabilityBoundingSet").isEmpty && unit.values("CapabilityBoundingSet") == [""])
        #expect(unit.words("AmbientCapabilities").isEmpty)
        #expect(unit.value("NoNewPrivileges") == "yes")
        #expect(unit.value("ProtectSystem") == "strict")
        #expect(unit.value("StateDirectory") == "tandem")
        #expect(Set(unit.words("RestrictAddressFamilies")) == ["AF_UNIX", "AF_INET", "AF_INET6"])
        let allowed = try allowedSystemCalls(unit)
        for call in ["bpf", "perf_event_open", "ptrace", "mount", "setuid", "capset"] {
            #expect(!allowed.contains(call), "SystemCallFilter of tandem-aggregator.service allows \(call)")
        }
    }

    @Test("the socket is root's, mode 0600, and activates the aggregator")
    func socket() throws {
        let unit = try TandemUnits.load(TandemUnits.socket)
        #expect(unit.value("ListenStream", in: "Socket") == "/run/tandem/tandem.sock")
        #expect(unit.value("SocketUser", in: "Socket") == "root")
        #expect(unit.value("SocketGroup", in: "Socket") == "root")
        #expect(unit.value("SocketMode", in: "Socket") == "0600")
        #expect(unit.value("Accept", in: "Socket") == "no")
        let aggregator = try TandemUnits.load(TandemUnits.aggregator)
        #expect(aggregator.words("Requires", in: "Unit").contains(TandemUnits.socket))
        // The path the units use is the configuration's default endpoint.
        let config = try String(contentsOf: packagingFile("tandem.yml"), encoding: .utf8)
        #expect(config.contains("endpoint: /run/tandem/tandem.sock"))
        let sampler = try TandemUnits.load(TandemUnits.sampler)
        #expect(sampler.value("ExecStart")?.contains("--socket /run/tandem/tandem.sock") == true)
    }

    @Test("sysusers.d creates the aggregator's user and tmpfiles.d its directories")
    func usersAndDirectories() throws {
        let sysusers = try String(contentsOf: packagingFile("sysusers.d/tandem.conf"), encoding: .utf8)
        let userLine = sysusers.split(separator: "\n").first { $0.hasPrefix("u ") }
        #expect(userLine?.split(separator: " ").dropFirst().first == "tandem")
        let tmpfiles = try String(contentsOf: packagingFile("tmpfiles.d/tandem.conf"), encoding: .utf8)
        #expect(tmpfiles.contains("d /run/tandem      0755 root   root"))
        #expect(tmpfiles.contains("d /var/lib/tandem  0750 tandem tandem"))
        if let sysusersTool = executablePath("systemd-sysusers") {
            // --dry-run parses the file for real without creating anything.
            let result = try run(sysusersTool, ["--dry-run", packagingFile("sysusers.d/tandem.conf").path])
            #expect(result.status == 0, "systemd-sysusers --dry-run: \(result.combined)")
        }
    }
}

/// `systemd-analyze security --offline=yes UNIT`'s overall exposure (0 safest, 10 worst).
func exposureScore(unitPath: String) throws -> Double {
    let systemdAnalyze = try requireTool("systemd-analyze", package: "apt-get install systemd")
    let result = try run(systemdAnalyze, ["security", "--offline=yes", "--no-pager", unitPath])
    let marker = "Overall exposure level for "
    guard let line = result.combined.split(separator: "\n").first(where: { $0.contains(marker) }),
          let colon = line.lastIndex(of: ":"),
          let score = Double(line[line.index(after: colon)...].split(separator: " ").first ?? "") else {
        throw PackagingTestError("systemd-analyze security printed no overall exposure for \(unitPath): \(result.combined)")
    }
    return score
}

/// A product of this package's build (`tandem-sampler`, `tandem-aggregator`): from
/// `TANDEM_BIN_DIR`, else next to the test bundle (SwiftPM puts both in one directory).
func builtProduct(_ name: String) throws -> String {
    var directories: [String] = []
    if let override = ProcessInfo.processInfo.environment["TANDEM_BIN_DIR"] { directories.append(override) }
    let runner = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                     ?? CommandLine.arguments[0])
    var directory = runner.deletingLastPathComponent()
    // Inside an .xctest bundle directory on some platforms: walk up to the products.
    while directory.path.hasSuffix(".xctest") || directory.lastPathComponent == "Contents" || directory.lastPathComponent == "MacOS" {
        directory = directory.deletingLastPathComponent()
    }
    directories.append(directory.path)
    for candidate in directories.map({ $0 + "/" + name }) where access(candidate, X_OK) == 0 {
        return candidate
    }
    throw PackagingTestError("\(name) was not found in \(directories); build it first (`swift build`), or set TANDEM_BIN_DIR")
}
