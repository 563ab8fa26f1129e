import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// What the sampler answers a file request with: the record, and with status
/// `attached` the descriptor that rides on it (a pair, since a tuple cannot hold a
/// noncopyable value).
package struct FileRequestReply: ~Copyable {
    package var answer: FileDescriptorAnswer
    package var descriptor: FileDescriptor?

    /// The descriptor, taken out of the reply (another module cannot consume a field of a
    /// noncopyable value on its own).
    package consuming func takeDescriptor() -> FileDescriptor? {
        descriptor
    }
}

/// Answers the aggregator's file requests (control record 15) with a read-only
/// descriptor of the mapped file, for files the unprivileged aggregator may not open
/// (other users' or containers' binaries). It parses nothing: it opens the path the
/// sampler itself read from /proc/PID/maps, resolved inside the process's own root
/// (`/proc/PID/root`, which `CAP_SYS_PTRACE` lets it traverse) as an `O_PATH`
/// descriptor (PathDescriptor.swift), and opens and passes the file only when `fstat`
/// shows the very file mapped (regular, same device and inode). The aggregator is less trusted than the sampler, so a request must name a
/// mapping the sampler knows exactly (pid, range, device, inode), and requests are
/// bounded: a few descriptors in flight, a token bucket per second. Every request is
/// answered (docs/wire-format.md 5.12) and counted; none is dropped in silence.
package struct FileRequestAnswerer {
    package struct Limits {
        /// Descriptors queued in the stream and not yet sent.
        package var maximumInFlight = 16
        /// Requests answered per second, on average ...
        package var requestsPerSecond = 32
        /// ... and at most this many at once (the bucket's size).
        package var burst = 64
    }

    package struct Counters: Equatable {
        package var requests: UInt64 = 0
        package var descriptorsSent: UInt64 = 0
        package var refused: UInt64 = 0
    }

    package let limits: Limits
    /// Where `/proc` is (tests point it elsewhere).
    package let procRoot: String
    package private(set) var counters = Counters()
    /// The last refusal, for the log.
    package private(set) var lastRefusal: String?
    private var tokens: Double
    private var lastRefill: UInt64?

    /// With the default limits.
    package init(procRoot: String = "/proc") {
        self.init(limits: Limits(), procRoot: procRoot)
    }

    init(limits: Limits, procRoot: String = "/proc") {
        self.limits = limits
        self.procRoot = procRoot
        self.tokens = Double(limits.burst)
    }

    /// The answer to `request`, and the descriptor to pass with it (owned by the
    /// caller from here on) when the status is `attached`. `known` is the sampler's own view of the
    /// pid's executable mappings; `inFlight` the descriptors still queued; `now` in
    /// monotonic nanoseconds.
    package mutating func answer(_ request: FileRequest, known: [Mapping]?, inFlight: Int,
                                 now: UInt64) -> FileRequestReply {
        counters.requests += 1
        var answer = FileDescriptorAnswer(pid: request.pid, start: request.start, device: request.device,
                                          inode: request.inode, status: .attached)
        func refuse(_ status: FileDescriptorStatus, errno: Int32 = 0,
                    _ reason: String) -> FileRequestReply {
            counters.refused += 1
            lastRefusal = "pid \(request.pid) mapping \(String(request.start, radix: 16)): \(reason)"
            answer.status = status
            answer.errorNumber = UInt32(bitPattern: errno)
            return FileRequestReply(answer: answer, descriptor: nil)
        }
        // Only a mapping the sampler read itself, and only its path: the request carries none.
        guard let mapping = known?.first(where: {
            $0.start == request.start && $0.end == request.end && $0.device == request.device && $0.inode == request.inode
        }), mapping.path.hasPrefix("/"), mapping.inode != 0 else {
            return refuse(.unknownMapping, "not a mapping the sampler knows")
        }
        guard inFlight < limits.maximumInFlight else {
            return refuse(.busy, "\(inFlight) descriptors already in flight")
        }
        refill(now: now)
        guard tokens >= 1 else {
            return refuse(.busy, "more than \(limits.requestsPerSecond) requests per second")
        }
        tokens -= 1
        // Resolved inside the process's root, and opened only as O_PATH until fstat shows
        // the mapped regular file: a link swapped in since the maps were read must not make
        // root open /etc/shadow, a FIFO (blocks) or a device (side effects) of the host.
        let root = "\(procRoot)/\(request.pid)/root"
        let located: FileDescriptor
        do {
            located = try PathDescriptor.openInRoot(root, mapping.path)
        } catch {
            return refuse(.openFailed, errno: error.errno, "\(error)\(Self.hint(error.errno))")
        }
        let status: stat
        do {
            status = try located.status()
        } catch {
            return refuse(.openFailed, errno: error.errno, "\(mapping.path): \(error)")
        }
        let type = FileType(mode: status.st_mode)
        guard type == .regular else {
            return refuse(.notRegularFile, "\(mapping.path) in \(root) is \(type), not a regular file; not opened")
        }
        guard UInt64(status.st_dev) == mapping.device, UInt64(status.st_ino) == mapping.inode else {
            return refuse(.identityMismatch, "\(mapping.path) in \(root) is device/inode \(status.st_dev)/\(status.st_ino), not the mapped \(mapping.device)/\(mapping.inode); not opened")
        }
        // O_NONBLOCK, O_NOCTTY: belt and braces, the inode is a regular file by now.
        let fd: FileDescriptor
        do {
            fd = try located.reopen(O_RDONLY | O_NOCTTY | O_NONBLOCK)
        } catch {
            return refuse(.openFailed, errno: error.errno, "\(mapping.path): \(error)")
        }
        counters.descriptorsSent += 1
        return FileRequestReply(answer: answer, descriptor: fd)
    }

    /// What to do about a failed `openat2`, for the refusal's log line.
    package static func hint(_ error: Int32) -> String {
        switch error {
        case ENOSYS: "; openat2(2) needs Linux 5.6 or later: without it the sampler answers no file request"
        case ELOOP, EXDEV: "; the path leads out of the process's root (a /proc magic link): not followed"
        case EACCES: "; the sampler keeps no CAP_DAC_OVERRIDE: the path is not searchable or readable for its user"
        default: ""
        }
    }

    /// A descriptor `answer` produced could not be queued (the stream cannot carry it):
    /// it counts as refused.
    package mutating func noteUndelivered() {
        counters.descriptorsSent -= 1
        counters.refused += 1
        lastRefusal = "the destination cannot carry descriptors"
    }

    private mutating func refill(now: UInt64) {
        defer { lastRefill = now }
        guard let lastRefill, now > lastRefill else { return }
        let earned = Double(now - lastRefill) / 1e9 * Double(limits.requestsPerSecond)
        tokens = min(Double(limits.burst), tokens + earned)
    }
}
