// libFuzzer target for what the sampler, as root, does with the aggregator's file requests
// (control record 15): `FileRequestAnswerer.answer` opens a file inside /proc/PID/root and
// passes its descriptor to the less-trusted aggregator. Compiled into the DescriptorPassing
// module by scripts/fuzz-file-requests.sh, so that the answerer can be pointed at a fake /proc
// (`init(limits:procRoot:)`) built once, before the first input, to be as hostile as a
// process's root can be: files of mode 000, hard links, links to /etc/shadow and out of the
// root, a link loop, a FIFO, a directory, a device, `..`, a file replaced after its mapping
// was read, an exited process, a root that is not a directory.
//
// Each input (Fuzz/FileRequestFuzzInput.swift) is the sampler's known mappings and a run of
// requests, some exactly a mapping, some one field off, some random, with the descriptors in
// flight and the clock. Any trap, sanitizer report, timeout (a blocking open) or memory
// blow-up is a finding, and so is a broken invariant, checked after every answer:
// - `attached` carries a descriptor, read-only, close-on-exec, of a regular file of that
//   process's own root whose device and inode are the request's, which must be exactly a
//   known mapping of the pid with an absolute path; any other status carries none;
// - the status is the one the fake tree calls for (a model of the checks and of the token
//   bucket), wherever the path is one of the tree's: never `attached` for a FIFO, directory,
//   device, link out of the root, relative path, inode 0 or a request no mapping matches;
// - requests == descriptorsSent + refused; no FIFO, device, directory or file outside the
//   roots is ever opened (inotify); no descriptor outlives the input.
import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFileRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FileRequestFuzzInput(decoding: UnsafeBufferPointer(start: data, count: size))
    let tree = hostileProc
    let descriptorsBefore = openDescriptorCount()
    let limits = FileRequestAnswerer.Limits(maximumInFlight: Int(max(input.maximumInFlight, 1)),
                                            requestsPerSecond: Int(max(input.requestsPerSecond, 1)),
                                            burst: Int(max(input.burst, 1)))
    var answerer = FileRequestAnswerer(limits: limits, procRoot: tree.procRoot)
    var bucket = TokenBucketModel(limits: limits)
    let mappings = input.mappings.map(tree.mapping)
    let known = Dictionary(grouping: mappings) { $0.pid }.mapValues { $0.map(\.mapping) }
    var now: UInt64 = 1_000_000_000
    var attachedCount: UInt64 = 0

    for (index, step) in input.steps.enumerated() {
        now = step.clock.advance(now)
        let request = tree.request(step.request, mappings: mappings)
        let knownOfPID = known[request.pid]
        let inFlight = Int(step.inFlight)
        let expected = tree.expectedStatus(request, known: knownOfPID, inFlight: inFlight, limits: limits,
                                           bucket: &bucket, now: now)
        var reply = answerer.answer(request, known: knownOfPID, inFlight: inFlight, now: now)
        let answer = reply.answer
        func fail(_ what: String) -> Never {
            fatalError("request \(index) \(request) (in flight \(inFlight), now \(now)) answered \(answer.status): \(what); known: \(knownOfPID ?? []); refusal: \(answerer.lastRefusal ?? "none")")
        }
        guard answer.pid == request.pid, answer.start == request.start, answer.device == request.device,
              answer.inode == request.inode else {
            fail("the answer names another mapping: \(answer)")
        }
        if let descriptor = reply.descriptor.take() {
            guard answer.status == .attached else { fail("a descriptor rides on a refusal") }
            if let broken = tree.brokenPromise(of: descriptor.rawValue, for: request, known: knownOfPID,
                                               inFlight: inFlight, limits: limits) {
                fail(broken)
            }
            attachedCount += 1
        } else if answer.status == .attached {
            fail("attached without a descriptor")
        }
        guard (answer.status == .openFailed) == (answer.errorNumber != 0) else {
            fail("error number \(answer.errorNumber) with that status")
        }
        if let expected, answer.status != expected { fail("expected \(expected)") }
        let counters = answerer.counters
        guard counters.requests == UInt64(index + 1), counters.requests == counters.descriptorsSent + counters.refused,
              counters.descriptorsSent == attachedCount else {
            fail("counters \(counters) after \(index + 1) requests, \(attachedCount) attached")
        }
        if let opened = tree.openedSinceLastLook() { fail("opened \(opened), which no request may open") }
    }
    let descriptorsAfter = openDescriptorCount()
    guard descriptorsAfter == descriptorsBefore else {
        fatalError("\(descriptorsAfter - descriptorsBefore) descriptors leaked by \(input.steps.count) requests")
    }
    return 0
}

/// The fake /proc, built on first use: once per fuzzing process, shared by all inputs (they
/// only read it).
let hostileProc = HostileProc()

/// The entries of /proc/self/fd (the count includes the directory's own descriptor, every time).
func openDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { fatalError("opendir(/proc/self/fd): errno \(errno)") }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
        if !isDot { count += 1 }
    }
    return count
}

/// A file's identity, as /proc/PID/maps and `fstat` give it.
struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ status: stat) {
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    var description: String { "\(device)/\(inode)" }
}

/// What a path of the tree leads to inside its process's root, worked out when the tree was
/// built (not by asking openat2), and so what the answerer must do with it.
enum PathOutcome: Sendable {
    /// A regular file: attached when the mapping claims this identity, else a mismatch.
    case file(FileIdentity)
    /// A regular file this process may not read (mode 000 without CAP_DAC_OVERRIDE): located
    /// and checked like any other, so a mismatch is still a mismatch; the open fails after.
    case unreadableFile(FileIdentity)
    case notRegular
    /// Nothing to open: missing, a loop, too long, through a file, no root.
    case fails
    /// Bytes no C call sees as the tree's path (an embedded NUL): only the invariants hold.
    case unspecified
}

/// The token bucket as docs/wire-format.md 5.12 and `FileRequestAnswerer.Limits` describe it,
/// refilled only for requests that passed the mapping and in-flight checks.
struct TokenBucketModel {
    let limits: FileRequestAnswerer.Limits
    var tokens: Double
    var lastRefill: UInt64?

    init(limits: FileRequestAnswerer.Limits) {
        self.limits = limits
        tokens = Double(limits.burst)
    }

    mutating func take(now: UInt64) -> Bool {
        if let lastRefill, now > lastRefill {
            tokens = min(Double(limits.burst), tokens + Double(now - lastRefill) / 1e9 * Double(limits.requestsPerSecond))
        }
        lastRefill = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

extension FileRequestFuzzInput.ClockStep {
    /// The monotonic clock after this step.
    func advance(_ now: UInt64) -> UInt64 {
        let step: UInt64 = switch self {
        case .same: 0
        case .milliseconds(let count): UInt64(count) * 1_000_000
        case .seconds(let count): UInt64(count) * 1_000_000_000
        case .jump(let nanoseconds): nanoseconds
        }
        let (sum, overflow) = now.addingReportingOverflow(step)
        return overflow ? .max : sum
    }
}

/// A scratch /proc of hostile process roots, and what each of their paths must lead to.
final class HostileProc: Sendable {
    /// The directory holding the scratch tree (removed by the script).
    let scratch: String
    let procRoot: String
    /// Per populated process, each tree path's outcome, by the path as a mapping carries it.
    let outcomes: [Int32: [String: PathOutcome]]
    /// Per process, the identity a mapping of each tree path claims for "its own" file (what
    /// it names, so FIFOs, directories and links out of the root come with theirs).
    let ownIdentities: [FakeProcess: [TreePath: FileIdentity]]
    let namedIdentities: [FakeProcess: [NamedIdentity: FileIdentity]]
    /// The only files a process's root lets the answerer pass.
    let regularFilesInRoot: [Int32: Set<FileIdentity>]
    /// inotify descriptor watching, for IN_OPEN, what must never be opened.
    let openWatch: Int32
    let watchedPaths: [Int32: String]

    init() {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/tandem-file-requests-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { fatalError("mkdtemp in \(base): errno \(errno)") }
        scratch = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        procRoot = "\(scratch)/proc"
        let outside = "\(scratch)/outside"
        makeDirectories(procRoot, outside)
        let outsideSecret = "\(outside)/secret"
        writeFile(outsideSecret, "the host's secret", mode: 0o600)
        var neverOpened = [outsideSecret]

        var outcomes: [Int32: [String: PathOutcome]] = [:]
        var ownIdentities: [FakeProcess: [TreePath: FileIdentity]] = [:]
        var namedIdentities: [FakeProcess: [NamedIdentity: FileIdentity]] = [:]
        var regularFilesInRoot: [Int32: Set<FileIdentity>] = [:]
        var roots: [FakeProcess: ProcessRoot] = [:]
        for process in [FakeProcess.plainRoot, .linkedRoot] {
            let directory = "\(procRoot)/\(process.pid)"
            makeDirectories(directory)
            let root: ProcessRoot
            if process == .plainRoot {
                // proc/PID/root/usr/lib: five levels below the scratch directory.
                root = ProcessRoot(build: "\(directory)/root", pid: process.pid, scratch: scratch, levelsToScratch: 5)
            } else {
                // rootfs-PID/usr/lib: three; proc/PID/root links there, as the kernel's magic link does.
                root = ProcessRoot(build: "\(scratch)/rootfs-\(process.pid)", pid: process.pid, scratch: scratch,
                                   levelsToScratch: 3)
                guard symlink(root.path, "\(directory)/root") == 0 else { fatalError("symlink root: errno \(errno)") }
            }
            roots[process] = root
            outcomes[process.pid] = Dictionary(uniqueKeysWithValues: TreePath.allCases.map { ($0.path, root.outcomes[$0]!) })
            regularFilesInRoot[process.pid] = root.regularFiles
            neverOpened += root.neverOpened
        }
        // An exited process has no directory; this one's root is a regular file.
        makeDirectories("\(procRoot)/\(FakeProcess.rootNotDirectory.pid)")
        writeFile("\(procRoot)/\(FakeProcess.rootNotDirectory.pid)/root", "not a directory", mode: 0o644)

        let hostShadow = identity(of: "/etc/shadow") ?? identity(of: "/etc/passwd")!
        for process in FakeProcess.allCases {
            let own = roots[process] ?? roots[.plainRoot]!
            let other = roots[process == .linkedRoot ? .plainRoot : .linkedRoot]!
            ownIdentities[process] = own.identities
            let library = own.identities[.library]!
            namedIdentities[process] = [
                .library: library, .otherProcessLibrary: other.identities[.library]!,
                .decoyShadow: own.identities[.absoluteEscape]!, .hostShadow: hostShadow,
                .outsideSecret: identity(of: outsideSecret)!, .swappedOriginal: own.swappedOriginal,
                .swappedCurrent: own.identities[.swapped]!, .fifo: own.identities[.fifo]!,
                .directory: own.identities[.directory]!, .device: own.identities[.device]!,
                .zeroInode: FileIdentity(device: library.device, inode: 0),
                .nextInode: FileIdentity(device: library.device, inode: library.inode + 1),
                .nextDevice: FileIdentity(device: library.device + 1, inode: library.inode),
            ]
        }
        self.outcomes = outcomes
        self.ownIdentities = ownIdentities
        self.namedIdentities = namedIdentities
        self.regularFilesInRoot = regularFilesInRoot

        // Watched only now: building the tree opened some of these.
        openWatch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard openWatch >= 0 else { fatalError("inotify_init1: errno \(errno)") }
        var watchedPaths: [Int32: String] = [:]
        for path in neverOpened {
            let watch = inotify_add_watch(openWatch, path, UInt32(IN_OPEN))
            guard watch >= 0 else { fatalError("inotify_add_watch(\(path)): errno \(errno)") }
            watchedPaths[watch] = path
        }
        self.watchedPaths = watchedPaths
        print("fuzz-file-requests: hostile /proc in \(procRoot)")
    }

    /// The known mapping an input describes, with its process's pid.
    func mapping(_ choice: FileRequestFuzzInput.KnownMapping) -> (pid: Int32, mapping: Mapping) {
        let path = switch choice.path {
        case .tree(let path): path.path
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        }
        let identity = switch choice.identity {
        case .named(.pathsOwn):
            if case .tree(let path) = choice.path { ownIdentities[choice.process]![path]! }
            else { namedIdentities[choice.process]![.library]! }
        case .named(let name): namedIdentities[choice.process]![name]!
        case .raw(let device, let inode): FileIdentity(device: device, inode: inode)
        }
        let start = 0x40_0000 + UInt64(choice.range & 0xF) << 12
        let end = start + (UInt64(choice.range >> 4) + 1) << 12
        return (choice.process.pid, Mapping(start: start, end: end, fileOffset: 0, device: identity.device,
                                            inode: identity.inode, path: path))
    }

    /// The request an input's step describes.
    func request(_ choice: FileRequestFuzzInput.RequestChoice, mappings: [(pid: Int32, mapping: Mapping)]) -> FileRequest {
        func copy(_ index: UInt8) -> FileRequest {
            guard !mappings.isEmpty else { return FileRequest(pid: FakeProcess.plainRoot.pid, start: 0, end: 0, device: 0, inode: 0) }
            let (pid, mapping) = mappings[Int(index) % mappings.count]
            return FileRequest(pid: pid, start: mapping.start, end: mapping.end, device: mapping.device, inode: mapping.inode)
        }
        switch choice {
        case .copy(let index):
            return copy(index)
        case .mutate(let index, let field, let by):
            var request = copy(index)
            switch field {
            case .pid: request.pid = FakeProcess.allCases[Int(by % UInt64(FakeProcess.allCases.count))].pid
            case .start: request.start ^= by
            case .end: request.end ^= by
            case .device: request.device ^= by
            case .inode: request.inode ^= by
            }
            return request
        case .random(let pid, let start, let end, let device, let inode):
            return FileRequest(pid: pid, start: start, end: end, device: device, inode: inode)
        }
    }

    /// The status the answer must have, or nil where only the invariants say anything (a path
    /// from the input's bytes). Takes a token from `bucket` as the answerer takes one.
    func expectedStatus(_ request: FileRequest, known: [Mapping]?, inFlight: Int, limits: FileRequestAnswerer.Limits,
                        bucket: inout TokenBucketModel, now: UInt64) -> FileDescriptorStatus? {
        guard let mapping = known?.first(where: { matches($0, request) }), mapping.path.hasPrefix("/"), mapping.inode != 0 else {
            return .unknownMapping
        }
        guard inFlight < limits.maximumInFlight, bucket.take(now: now) else { return .busy }
        // No root to open anything in: exited, not a directory, or no such process.
        guard let outcomes = outcomes[request.pid] else { return .openFailed }
        switch outcomes[mapping.path] {
        case .file(let identity)?: return identity == FileIdentity(device: mapping.device, inode: mapping.inode) ? .attached : .identityMismatch
        case .unreadableFile(let identity)?:
            return identity == FileIdentity(device: mapping.device, inode: mapping.inode) ? .openFailed : .identityMismatch
        case .notRegular?: return .notRegularFile
        case .fails?: return .openFailed
        case .unspecified?, nil: return nil
        }
    }

    /// What is wrong with an attached descriptor, judged from the descriptor itself and the
    /// known mappings, never from the answerer's reasoning; nil if nothing.
    func brokenPromise(of descriptor: Int32, for request: FileRequest, known: [Mapping]?, inFlight: Int,
                       limits: FileRequestAnswerer.Limits) -> String? {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return "fstat of the descriptor: errno \(errno)" }
        let identity = FileIdentity(status)
        guard status.st_mode & S_IFMT == S_IFREG else { return "passed a non-regular file (mode \(String(status.st_mode, radix: 8)))" }
        guard identity == FileIdentity(device: request.device, inode: request.inode), request.inode != 0 else {
            return "passed file \(identity), not the requested \(request.device)/\(request.inode)"
        }
        guard let mapping = known?.first(where: { matches($0, request) }) else { return "attached for no known mapping" }
        guard mapping.path.hasPrefix("/") else { return "attached for the relative path \(mapping.path.debugDescription)" }
        guard regularFilesInRoot[request.pid]?.contains(identity) == true else {
            return "passed \(identity), which is not a file inside pid \(request.pid)'s root"
        }
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, flags & O_ACCMODE == O_RDONLY, flags & __O_PATH == 0 else {
            return "the descriptor is not opened read-only (flags 0o\(String(flags, radix: 8)))"
        }
        guard fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0 else { return "the descriptor is not close-on-exec" }
        guard inFlight < limits.maximumInFlight else { return "attached with \(inFlight) descriptors already in flight" }
        return nil
    }

    /// A watched path that was opened since the last call, if any.
    func openedSinceLastLook() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(openWatch, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let watch = buffer.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        return watchedPaths[watch] ?? "watch \(watch)"
    }
}

/// The request names exactly this mapping: range and identity.
func matches(_ mapping: Mapping, _ request: FileRequest) -> Bool {
    mapping.start == request.start && mapping.end == request.end && mapping.device == request.device
        && mapping.inode == request.inode
}

/// One process's hostile root, built at `path`.
struct ProcessRoot {
    let path: String
    var outcomes: [TreePath: PathOutcome] = [:]
    /// What each path names (for a link out of the root, its target on the host).
    var identities: [TreePath: FileIdentity] = [:]
    var swappedOriginal: FileIdentity
    var regularFiles: Set<FileIdentity> = []
    var neverOpened: [String] = []

    /// `levelsToScratch`: how many `..` lead from `usr/lib` to the scratch directory on the host.
    init(build path: String, pid: Int32, scratch: String, levelsToScratch: Int) {
        self.path = path
        func at(_ relative: String) -> String { "\(path)/\(relative)" }
        makeDirectories(path, at("usr"), at("usr/lib"), at("etc"), at("run"), at("opt"), at("opt/empty"), at("dev"))
        writeFile(at("usr/lib/libok.so"), "\u{7F}ELF of pid \(pid)", mode: 0o644)
        writeFile(at("usr/lib/libsecret.so"), "\u{7F}ELF nobody may read", mode: 0)
        writeFile(at("etc/shadow"), "pid \(pid)'s own shadow", mode: 0o600)
        guard link(at("usr/lib/libok.so"), at("usr/lib/libhard.so")) == 0 else { fatalError("link: errno \(errno)") }
        makeLink(at("lib"), to: "usr/lib")
        makeLink(at("usr/lib/shadow.so"), to: "/etc/shadow")
        makeLink(at("usr/lib/outside.so"), to: String(repeating: "../", count: levelsToScratch) + "outside/secret")
        makeLink(at("usr/lib/host.so"), to: "\(scratch)/outside/secret")
        makeLink(at("usr/lib/loop.so"), to: "loop2.so")
        makeLink(at("usr/lib/loop2.so"), to: "loop.so")
        guard mkfifo(at("run/pipe"), 0o600) == 0 else { fatalError("mkfifo: errno \(errno)") }
        // A character device 1:3 (/dev/null's numbers) where mknod is allowed; else the
        // path is a directory, not a regular file either.
        if mknod(at("dev/null"), S_IFCHR | 0o600, dev_t(1 << 8 | 3)) != 0 {
            print("fuzz-file-requests: mknod not permitted (errno \(errno)): a directory stands in for the device")
            makeDirectories(at("dev/null"))
        }
        // The file mapped when the maps were read, moved out of the root and replaced since.
        writeFile(at("usr/lib/swapped.so"), "\u{7F}ELF as mapped", mode: 0o644)
        swappedOriginal = identity(of: at("usr/lib/swapped.so"))!
        let moved = "\(scratch)/outside/swapped-\(pid).so"
        guard rename(at("usr/lib/swapped.so"), moved) == 0 else { fatalError("rename: errno \(errno)") }
        writeFile(at("usr/lib/swapped.so"), "\u{7F}ELF replacement", mode: 0o644)
        neverOpened = [at("run/pipe"), at("opt/empty"), at("dev/null"), moved]

        let library = identity(of: at("usr/lib/libok.so"))!
        let secret = identity(of: at("usr/lib/libsecret.so"))!
        let decoy = identity(of: at("etc/shadow"))!
        let replacement = identity(of: at("usr/lib/swapped.so"))!
        regularFiles = [library, secret, decoy, replacement]
        // Mode 000 stops only a process without CAP_DAC_OVERRIDE (the fuzzer's, as the sampler's).
        let secretOpens = open(at("usr/lib/libsecret.so"), O_RDONLY | O_CLOEXEC)
        if secretOpens >= 0 { close(secretOpens) }

        let outsideSecret = identity(of: "\(scratch)/outside/secret")!
        for treePath in TreePath.allCases {
            let (outcome, named): (PathOutcome, FileIdentity) = switch treePath {
            case .library, .hardLink, .throughLinkedDirectory, .dotDot, .aboveRoot: (.file(library), library)
            case .unreadable: (secretOpens >= 0 ? .file(secret) : .unreadableFile(secret), secret)
            // Inside the root, /etc/shadow is the root's own.
            case .absoluteEscape: (.file(decoy), decoy)
            case .relativeEscape, .hostEscape: (.fails, outsideSecret)
            case .fifo: (.notRegular, identity(of: at("run/pipe"))!)
            case .directory: (.notRegular, identity(of: at("opt/empty"))!)
            case .device: (.notRegular, identity(of: at("dev/null"))!)
            case .swapped: (.file(replacement), replacement)
            case .loop, .missing, .throughFile, .trailingSlash, .tooLong: (.fails, library)
            // Refused before any lookup: not absolute.
            case .relative, .empty, .pseudo: (.unspecified, library)
            // C reads "/usr/lib/libok.so"; what the answerer should make of the rest is not fixed.
            case .embeddedNUL: (.unspecified, library)
            }
            outcomes[treePath] = outcome
            identities[treePath] = named
        }
    }
}

func makeDirectories(_ paths: String...) {
    for path in paths where mkdir(path, 0o755) != 0 {
        fatalError("mkdir \(path): errno \(errno)")
    }
}

func makeLink(_ path: String, to target: String) {
    guard symlink(target, path) == 0 else { fatalError("symlink \(path) -> \(target): errno \(errno)") }
}

func writeFile(_ path: String, _ contents: String, mode: mode_t) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("create \(path): errno \(errno)") }
    let bytes = Array(contents.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fchmod(fd, mode) == 0 else {
        fatalError("write \(path): errno \(errno)")
    }
    close(fd)
}

/// `stat` (links followed) of `path`, or nil if there is nothing there.
func identity(of path: String) -> FileIdentity? {
    var status = stat()
    return stat(path, &status) == 0 ? FileIdentity(status) : nil
}
