import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The two daemons started the way the packaged units start them, without systemd as
/// PID 1: the aggregator as the `tandem` user with every capability gone (setpriv), the
/// sampler as root restricted to the unit's CapabilityBoundingSet and in a network
/// namespace of its own (the unit's PrivateNetwork=yes).
final class LiveDeployment {
    let directory: TemporaryDirectory
    let socketPath: String
    let configPath: String
    let tandem: (uid: UInt32, gid: UInt32)
    let aggregator: LiveProcess
    private var samplers: [LiveProcess] = []

    /// With `traceDirectory`, the aggregator runs under `strace -f` writing
    /// `aggregator.strace` there (see `startSampler` for the sampler's trace).
    init(traceDirectory: String? = nil) throws {
        tandem = try tandemUser()
        directory = try TemporaryDirectory(prefix: "tandem-live")
        // Traversable by the tandem user; the state directory is its own.
        chmod(directory.path, 0o755)
        let state = directory.url.appendingPathComponent("state").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        chown(state, tandem.uid, tandem.gid)
        // The aggregator creates its socket, as in the pod: the directory is tandem's.
        let socketDirectory = directory.url.appendingPathComponent("run").path
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: false)
        chown(socketDirectory, tandem.uid, tandem.gid)
        chmod(socketDirectory, 0o755)
        socketPath = socketDirectory + "/tandem.sock"
        configPath = directory.url.appendingPathComponent("tandem.yml").path
        let packaged = try String(contentsOf: packagingFile("tandem.yml"), encoding: .utf8)
        let config = packaged
            .replacingOccurrences(of: "/run/tandem/tandem.sock", with: socketPath)
            .replacingOccurrences(of: "/var/lib/tandem/metrics.jsonl", with: state + "/metrics.jsonl")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o644)

        let setpriv = try requireTool("setpriv", package: "apt-get install util-linux")
        let command = [setpriv,
            "--reuid=tandem", "--regid=tandem", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs",
            "--", try builtProduct("tandem-aggregator"), "serve", "--config", configPath,
        ]
        let traced = try traceDirectory.map { try tracing(command, to: $0 + "/aggregator.strace") } ?? command
        aggregator = try LiveProcess(traced[0], Array(traced.dropFirst()),
                                     logPath: directory.url.appendingPathComponent("aggregator.log").path)
        try waitUntil(seconds: 30, "the aggregator to create \(socketPath)") {
            if !aggregator.isRunning { throw PackagingTestError("the aggregator exited: \(aggregator.output)") }
            var status = stat()
            return lstat(socketPath, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK
        }
    }

    /// Starts tandem-sampler with `capabilities` as its bounding set (root gets exactly
    /// those at exec, as under CapabilityBoundingSet=), in a new network namespace and a
    /// read-only file system, with
    /// the tandem group added so that it can reach the aggregator's 0660 socket (the
    /// Kubernetes pod does the same with supplementalGroups).
    func startSampler(capabilities: Set<String>, extraArguments: [String] = [],
                      traceFile: String? = nil) throws -> LiveProcess {
        let setpriv = try requireTool("setpriv", package: "apt-get install util-linux")
        let unshare = try requireTool("unshare", package: "apt-get install util-linux")
        let bounding = (["-all"] + capabilities.sorted().map { "+" + $0.dropFirst(4).lowercased() }).joined(separator: ",")
        // The unit's SecureBits= as well: they decide what root's exec grants.
        let secureBits = try TandemUnits.load(TandemUnits.sampler).words("SecureBits")
            .map { "+" + $0.replacingOccurrences(of: "-", with: "_") }
        let secureBitsOption = secureBits.isEmpty ? [] : ["--securebits=" + secureBits.joined(separator: ",")]
        // The unit's file system view, approximated: /, /proc and /sys read-only
        // (ProtectSystem=strict, ReadOnlyPaths=/proc /sys) in a mount namespace of its own.
        let readOnly = "mount -o remount,bind,ro / && mount -o remount,bind,ro /proc && mount -o remount,bind,ro /sys && exec \"$@\""
        let command = [unshare,
            "--net", "--mount", "--", "/bin/sh", "-c", readOnly, "sh",
            setpriv, "--groups=\(tandem.gid)", "--inh-caps=-all", "--bounding-set=\(bounding)",
        ] + secureBitsOption + [
            "--", try builtProduct("tandem-sampler"), "--socket", socketPath, "--config", configPath,
        ] + extraArguments
        let traced = try traceFile.map { try tracing(command, to: $0) } ?? command
        let sampler = try LiveProcess(traced[0], Array(traced.dropFirst()), logPath: directory.url.appendingPathComponent("sampler-\(samplers.count).log").path)
        samplers.append(sampler)
        return sampler
    }

    /// Connects to the socket as `uid`/`gid` from a separate process, sends a few bytes
    /// and reports whether the aggregator closed the connection.
    func connect(uid: UInt32, gid: UInt32) throws -> CommandResult {
        let setpriv = try requireTool("setpriv", package: "apt-get install util-linux")
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.settimeout(30)
            try:
                s.sendall(b"not a tandem stream")
                data = s.recv(1)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            print("closed" if data == b"" else "open")
            """
        return try run(setpriv, ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--",
                                 "/usr/bin/python3", "-c", script, socketPath])
    }

    /// Waits until the aggregator logs `sampler`'s connection; fails with the sampler's
    /// output if it exits first.
    func waitForConnection(of sampler: LiveProcess) throws {
        let line = "from pid \(sampler.pid) uid 0"
        try waitUntil(seconds: 30, "the aggregator to accept the sampler (`\(line)`)") {
            if aggregator.output.contains(line) { return true }
            if !sampler.isRunning {
                throw PackagingTestError("the sampler exited with \(sampler.process.terminationStatus):\n\(sampler.output)")
            }
            if !aggregator.isRunning { throw PackagingTestError("the aggregator exited: \(aggregator.output)") }
            return false
        }
    }

    func stop() {
        for sampler in samplers { sampler.stop() }
        aggregator.stop()
        directory.cleanup()
    }
}

/// Root-only: these start the real daemons with real credentials.
@Suite("Least privilege, measured on the running daemons", .serialized,
       .enabled(if: getuid() == 0, "needs root to switch users and load BPF (CI runs as root)"))
struct LeastPrivilegeTests {
    @Test("the aggregator runs as tandem with every capability set empty and no_new_privs")
    func aggregatorHasNoCapability() throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        let status = try processStatus(deployment.aggregator.pid)
        for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(try capabilityMask(status, field) == 0, "\(field): \(status[field] ?? "")")
        }
        let uids = status["Uid"]?.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init) ?? []
        #expect(uids == Array(repeating: String(deployment.tandem.uid), count: 4), "Uid: \(uids)")
        #expect(status["NoNewPrivs"] == "1")
        // ...and it still works: it accepts root's connection.
        let root = try deployment.connect(uid: 0, gid: 0)
        #expect(root.status == 0, "\(root.combined)")
        try deployment.aggregator.waitForOutput("uid 0")
    }

    @Test("a peer whose uid is not in allowed_uids is refused and logged")
    func disallowedPeerIsRefused() throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        // uid 65534 with the tandem group passes the socket's 0660 permission check, so it
        // is the SO_PEERCRED check that must stop it.
        let peer = try deployment.connect(uid: 65534, gid: deployment.tandem.gid)
        #expect(peer.status == 0, "\(peer.combined)")
        #expect(peer.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "closed")
        try deployment.aggregator.waitForOutput("uid 65534")
        let refusal = deployment.aggregator.output.split(separator: "\n").first { $0.contains("uid 65534") } ?? ""
        #expect(refusal.contains("refused"), "the aggregator's log line: \(refusal)")
        #expect(deployment.aggregator.isRunning)
    }

    @Test("the sampler, started with exactly the unit's capabilities, streams and then keeps only CAP_SYS_PTRACE")
    func samplerCapabilitiesAfterStart() throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        let sampler = try deployment.startSampler(capabilities: samplerGrantedCapabilities)
        try deployment.waitForConnection(of: sampler)
        let kept = capabilityMask(samplerCapabilitiesKept)
        var status: [String: String] = [:]
        try waitUntil(seconds: 30, "the sampler to drop its start-up capabilities") {
            if !sampler.isRunning { throw PackagingTestError("the sampler exited: \(sampler.output)") }
            status = try processStatus(sampler.pid)
            return try capabilityMask(status, "CapEff") == kept
        }
        let permitted = try capabilityMask(status, "CapPrm")
        #expect(permitted == kept, "CapPrm: \(capabilityNames(permitted))")
        #expect(try capabilityMask(status, "CapInh") == 0)
        #expect(try capabilityMask(status, "CapAmb") == 0)
        #expect(try capabilityMask(status, "CapBnd") & ~capabilityMask(samplerGrantedCapabilities) == 0)
        #expect(status["NoNewPrivs"] == "1")
        #expect(sampler.isRunning, "\(sampler.output)")
        // It did all that with /, /proc and /sys read-only.
        let mounts = try String(contentsOfFile: "/proc/\(sampler.pid)/mountinfo", encoding: .utf8)
        for target in ["/", "/proc", "/sys"] {
            let line = mounts.split(separator: "\n").last { $0.split(separator: " ").dropFirst(4).first.map(String.init) == target }
            let options = line?.split(separator: " ").dropFirst(5).first.map(String.init) ?? ""
            #expect(options.split(separator: ",").contains("ro"), "\(target) is mounted \(options) for the sampler")
        }
    }

    @Test("the sampler owns no network socket: every socket it holds is a Unix socket")
    func samplerHasNoNetworkSocket() throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        let sampler = try deployment.startSampler(capabilities: samplerGrantedCapabilities)
        try deployment.waitForConnection(of: sampler)
        // Socket inodes of every family, in the sampler's network namespace and in this
        // one (a socket is listed in the namespace it was created in; the sampler also
        // inherits a Unix socket pair from the test runner, created here).
        func inodes(_ table: String) -> Set<String> {
            var found: Set<String> = []
            for owner in ["\(sampler.pid)", "self"] {
                guard let text = try? String(contentsOfFile: "/proc/\(owner)/net/\(table)", encoding: .utf8) else { continue }
                let column = table == "unix" ? 6 : (table == "packet" ? 8 : 9)
                for line in text.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                    if fields.count > column { found.insert(String(fields[column])) }
                }
            }
            return found
        }
        func socketInodes() throws -> Set<String> {
            var sockets: Set<String> = []
            for fd in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(sampler.pid)/fd") {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sampler.pid)/fd/\(fd)"),
                      target.hasPrefix("socket:[") else { continue }
                sockets.insert(String(target.dropFirst("socket:[".count).dropLast()))
            }
            return sockets
        }
        // A consistent view: the same sockets before and after reading the tables (the
        // sampler reconnects with a new socket whenever the aggregator drops it).
        var sockets: Set<String> = []
        var unix: Set<String> = []
        var network: Set<String> = []
        try waitUntil(seconds: 30, "a stable set of the sampler's sockets") {
            let before = try socketInodes()
            unix = inodes("unix")
            network = ["tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6", "packet", "netlink"]
                .reduce(into: Set<String>()) { $0.formUnion(inodes($1)) }
            sockets = try socketInodes()
            return before == sockets
        }
        #expect(!sockets.isEmpty, "the connected sampler holds no socket at all?")
        for inode in sockets {
            #expect(unix.contains(inode), "socket inode \(inode) is not a Unix socket")
            #expect(!network.contains(inode), "socket inode \(inode) is a network socket")
        }
    }

    @Test("each documented capability is needed: without it the sampler refuses to start and names it",
          arguments: samplerCapabilitiesAtStart.sorted())
    func everyCapabilityIsNeeded(missing: String) throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        let sampler = try deployment.startSampler(capabilities: samplerGrantedCapabilities.subtracting([missing]))
        sampler.process.waitUntilExit()
        #expect(sampler.process.terminationStatus != 0)
        #expect(sampler.output.contains(missing), "the sampler's error does not name \(missing): \(sampler.output)")
    }

    @Test("every system call the daemons make in a session is one their unit's SystemCallFilter allows")
    func systemCallsStayInsideTheFilters() throws {
        let traces = try TemporaryDirectory(prefix: "tandem-strace")
        defer { traces.cleanup() }
        let deployment = try LiveDeployment(traceDirectory: traces.path)
        defer { deployment.stop() }
        let samplerTrace = traces.path + "/sampler.strace"
        // Three seconds of sampling, streaming, process tracking; then a clean exit.
        let sampler = try deployment.startSampler(capabilities: samplerGrantedCapabilities,
                                                  extraArguments: ["--duration", "3"], traceFile: samplerTrace)
        sampler.process.waitUntilExit()
        #expect(sampler.process.terminationStatus == 0, "the traced sampler failed: \(sampler.output)")
        try deployment.aggregator.waitForOutput("closed by the sampler")
        // Stop the traced aggregator itself (strace exits with it) so that its shutdown,
        // flushing the exporters and writing the outputs, is traced too.
        for child in childProcesses(of: deployment.aggregator.pid) { kill(child, SIGTERM) }
        deployment.aggregator.process.waitUntilExit()

        for (unitName, trace, binary) in [(TandemUnits.sampler, samplerTrace, "tandem-sampler"),
                                          (TandemUnits.aggregator, traces.path + "/aggregator.strace", "tandem-aggregator")] {
            let used = try systemCallsTraced(in: trace, after: binary)
            let allowed = try allowedSystemCalls(try TandemUnits.load(unitName))
            print("\(binary) made \(used.count) distinct system calls: \(used.sorted().joined(separator: " "))")
            #expect(used.count > 10, "\(trace) holds too few calls to mean anything: \(used.sorted())")
            #expect(used.subtracting(allowed).isEmpty,
                    "\(unitName)'s SystemCallFilter would deny \(used.subtracting(allowed).sorted())")
        }
    }

    /// Without CAP_SETPCAP the sampler cannot empty its bounding set
    /// (`PR_CAPBSET_DROP`) and must skip that step rather than fail: the units grant
    /// exactly the four documented capabilities.
    @Test("the sampler starts and streams with only the four documented capabilities (no CAP_SETPCAP)")
    func samplerWithFourCapabilities() throws {
        let deployment = try LiveDeployment()
        defer { deployment.stop() }
        let sampler = try deployment.startSampler(capabilities: samplerCapabilitiesAtStart)
        try deployment.waitForConnection(of: sampler)
    }
}

/// `command` run under `strace -f`, every system call of every thread and child written
/// to `file`.
func tracing(_ command: [String], to file: String) throws -> [String] {
    let strace = try requireTool("strace", package: "apt-get install strace")
    return [strace, "-f", "-qq", "-o", file, "--"] + command
}

/// The system calls in an `strace -f` log made after `binary` was executed (what the
/// launcher did before, setpriv or unshare, is not the daemon's).
func systemCallsTraced(in file: String, after binary: String) throws -> Set<String> {
    let text = try String(contentsOfFile: file, encoding: .utf8)
    var started = false
    var calls: Set<String> = []
    for line in text.split(separator: "\n") {
        // "PID name(args) = result", "PID <... name resumed>..." or "PID +++ exited ..."
        let body = line.drop(while: { $0.isNumber }).drop(while: { $0 == " " })
        if !started {
            if body.hasPrefix("execve(\"") && body.contains(binary + "\"") && !body.contains("= -1") { started = true }
            continue
        }
        var name = body
        if name.hasPrefix("<... ") { name = name.dropFirst(5) }
        let word = name.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        if !word.isEmpty, name.dropFirst(word.count).first == "(" || name.dropFirst(word.count).hasPrefix(" resumed") {
            calls.insert(String(word))
        }
    }
    guard started else { throw PackagingTestError("\(file) shows no execve of \(binary)") }
    return calls
}

/// The pids of `pid`'s children (`/proc/PID/task/PID/children`).
func childProcesses(of pid: Int32) -> [Int32] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}
