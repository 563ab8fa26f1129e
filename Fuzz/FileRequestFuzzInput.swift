// The byte format of one input of the file-request fuzzer (Fuzz/FileRequestFuzzTarget.swift),
// shared with its seed generator (Fuzz/FileRequestSeedCorpus.swift) so that a seed decodes
// to exactly the case it was written for. Depends on nothing: it names the fake /proc's
// processes and paths, and the target turns the names into real files and `Mapping`s.
//
// Every byte sequence decodes (reads past the end give zeros), so libFuzzer's mutations all
// reach the answerer; tags take the low bits of a byte so that most values mean something.

/// The processes of the fake /proc the target builds, each a different shape of
/// `/proc/PID/root`.
enum FakeProcess: CaseIterable {
    /// `root` is a directory holding the hostile tree.
    case plainRoot
    /// `root` is a link to the tree elsewhere, as the kernel's magic link is.
    case linkedRoot
    /// No `/proc/PID` at all: the process exited after its maps were read.
    case exited
    /// `root` is a regular file, not a directory.
    case rootNotDirectory

    var pid: Int32 {
        switch self {
        case .plainRoot: 100
        case .linkedRoot: 200
        case .exited: 300
        case .rootNotDirectory: 400
        }
    }
}

/// The paths a known mapping can name in the fake process roots (besides the input's own
/// bytes): each a way the path the sampler read could mislead it.
enum TreePath: CaseIterable {
    case library, unreadable, hardLink, throughLinkedDirectory, dotDot, aboveRoot
    case absoluteEscape, relativeEscape, hostEscape, loop, fifo, directory, device
    case swapped, missing, throughFile, trailingSlash, relative, empty, pseudo, embeddedNUL, tooLong

    /// The path as the mapping carries it.
    var path: String {
        switch self {
        case .library: "/usr/lib/libok.so"
        case .unreadable: "/usr/lib/libsecret.so"
        case .hardLink: "/usr/lib/libhard.so"
        case .throughLinkedDirectory: "/lib/libok.so"
        case .dotDot: "/usr/lib/../lib/libok.so"
        case .aboveRoot: "/../../../../usr/lib/libok.so"
        case .absoluteEscape: "/usr/lib/shadow.so"
        case .relativeEscape: "/usr/lib/outside.so"
        case .hostEscape: "/usr/lib/host.so"
        case .loop: "/usr/lib/loop.so"
        case .fifo: "/run/pipe"
        case .directory: "/opt/empty"
        case .device: "/dev/null"
        case .swapped: "/usr/lib/swapped.so"
        case .missing: "/usr/lib/missing.so"
        case .throughFile: "/usr/lib/libok.so/x"
        case .trailingSlash: "/usr/lib/libok.so/"
        case .relative: "usr/lib/libok.so"
        case .empty: ""
        case .pseudo: "[vdso]"
        case .embeddedNUL: "/usr/lib/libok.so\0.evil"
        // Longer than PATH_MAX (4096), though it names the library.
        case .tooLong: "/" + String(repeating: "usr/../", count: 700) + "usr/lib/libok.so"
        }
    }
}

/// The (device, inode) a known mapping can claim, besides raw numbers from the input.
enum NamedIdentity: CaseIterable {
    /// What the mapping's path leads to in its own process's root (the library if nothing).
    case pathsOwn
    case library, otherProcessLibrary, decoyShadow, hostShadow, outsideSecret
    /// The file at the swapped path when the maps were read (moved out of the root since).
    case swappedOriginal
    case swappedCurrent, fifo, directory, device
    /// The library's device with inode 0, as /proc/PID/maps shows anonymous memory.
    case zeroInode
    /// The library's device and the next inode; its inode on the next device.
    case nextInode, nextDevice
}

/// One fuzz input, decoded: the known mappings (the sampler's view of /proc/PID/maps) and
/// the requests the aggregator sends, each with the descriptors in flight and the clock.
struct FileRequestFuzzInput: Equatable {
    /// `FileRequestAnswerer.Limits`, as they are (0 counts as 1): bytes, so that small limits
    /// and the busy paths behind them are reached.
    var maximumInFlight: UInt8 = 16
    var requestsPerSecond: UInt8 = 32
    var burst: UInt8 = 64
    var mappings: [KnownMapping] = []
    var steps: [Step] = []

    enum PathChoice: Equatable {
        case tree(TreePath)
        case bytes([UInt8])
    }

    enum IdentityChoice: Equatable {
        case named(NamedIdentity)
        case raw(device: UInt64, inode: UInt64)
    }

    struct KnownMapping: Equatable {
        var process: FakeProcess
        var path: PathChoice
        var identity: IdentityChoice
        /// Low 4 bits: start page above 0x400000; high 4 bits: length in pages - 1. Few
        /// values, so that mappings overlap and share ranges.
        var range: UInt8
    }

    /// The request's fields, in `mutate`'s numbering.
    enum Field: UInt8, CaseIterable {
        case pid, start, end, device, inode
    }

    enum RequestChoice: Equatable {
        /// Exactly a known mapping (index modulo their count).
        case copy(mapping: UInt8)
        /// A known mapping with one field changed: XORed with `by` (never 0), or for the
        /// pid, another fake process's (`by` modulo their count).
        case mutate(mapping: UInt8, field: Field, by: UInt64)
        case random(pid: Int32, start: UInt64, end: UInt64, device: UInt64, inode: UInt64)
    }

    enum ClockStep: Equatable {
        case same
        case milliseconds(UInt8)
        case seconds(UInt8)
        /// Any forward jump, saturating at `UInt64.max`.
        case jump(UInt64)
    }

    struct Step: Equatable {
        var request: RequestChoice
        var inFlight: UInt8
        var clock: ClockStep
    }

    init(mappings: [KnownMapping], steps: [Step], maximumInFlight: UInt8 = 16, requestsPerSecond: UInt8 = 32,
         burst: UInt8 = 64) {
        self.mappings = mappings
        self.steps = steps
        self.maximumInFlight = maximumInFlight
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }

    init(decoding bytes: UnsafeBufferPointer<UInt8>) {
        var reader = Reader(bytes: bytes)
        maximumInFlight = reader.byte()
        requestsPerSecond = reader.byte()
        burst = reader.byte()
        for _ in 0..<reader.byte() % 8 {
            let process = FakeProcess.allCases[Int(reader.byte()) % FakeProcess.allCases.count]
            let pathTag = reader.byte()
            let path: PathChoice = pathTag < 0x80
                ? .tree(TreePath.allCases[Int(pathTag) % TreePath.allCases.count])
                : .bytes((0..<reader.byte()).map { _ in reader.byte() })
            let identityTag = reader.byte()
            let identity: IdentityChoice = identityTag < 0x80
                ? .named(NamedIdentity.allCases[Int(identityTag) % NamedIdentity.allCases.count])
                : .raw(device: reader.word(), inode: reader.word())
            mappings.append(KnownMapping(process: process, path: path, identity: identity, range: reader.byte()))
        }
        for _ in 0..<reader.byte() % 32 {
            let request: RequestChoice
            switch reader.byte() % 4 {
            case 1:
                let mapping = reader.byte()
                let field = Field.allCases[Int(reader.byte()) % Field.allCases.count]
                request = .mutate(mapping: mapping, field: field, by: max(reader.word(), 1))
            case 2:
                request = .random(pid: Int32(truncatingIfNeeded: reader.word()), start: reader.word(), end: reader.word(),
                                  device: reader.word(), inode: reader.word())
            default:
                request = .copy(mapping: reader.byte())
            }
            let inFlight = reader.byte()
            let clock: ClockStep
            switch reader.byte() % 4 {
            case 1: clock = .milliseconds(reader.byte())
            case 2: clock = .seconds(reader.byte())
            case 3: clock = .jump(reader.word())
            default: clock = .same
            }
            steps.append(Step(request: request, inFlight: inFlight, clock: clock))
        }
    }

    /// The bytes that decode to this input (for the seeds; counts must be below 8 and 32).
    func encoded() -> [UInt8] {
        var bytes = [maximumInFlight, requestsPerSecond, burst, UInt8(mappings.count)]
        func word(_ value: UInt64) { bytes += (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        for mapping in mappings {
            bytes.append(UInt8(FakeProcess.allCases.firstIndex(of: mapping.process)!))
            switch mapping.path {
            case .tree(let path): bytes.append(UInt8(TreePath.allCases.firstIndex(of: path)!))
            case .bytes(let path): bytes += [0x80, UInt8(path.count)] + path
            }
            switch mapping.identity {
            case .named(let identity): bytes.append(UInt8(NamedIdentity.allCases.firstIndex(of: identity)!))
            case .raw(let device, let inode): bytes.append(0x80); word(device); word(inode)
            }
            bytes.append(mapping.range)
        }
        bytes.append(UInt8(steps.count))
        for step in steps {
            switch step.request {
            case .copy(let mapping): bytes += [0, mapping]
            case .mutate(let mapping, let field, let by): bytes += [1, mapping, field.rawValue]; word(by)
            case .random(let pid, let start, let end, let device, let inode):
                bytes.append(2)
                word(UInt64(UInt32(bitPattern: pid)))
                for value in [start, end, device, inode] { word(value) }
            }
            bytes.append(step.inFlight)
            switch step.clock {
            case .same: bytes.append(0)
            case .milliseconds(let count): bytes += [1, count]
            case .seconds(let count): bytes += [2, count]
            case .jump(let nanoseconds): bytes.append(3); word(nanoseconds)
            }
        }
        return bytes
    }

    /// Reads bytes front to back; past the end, zeros.
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        mutating func byte() -> UInt8 {
            defer { offset += 1 }
            return offset < bytes.count ? bytes[offset] : 0
        }

        /// Little-endian.
        mutating func word() -> UInt64 {
            (0..<8).reduce(0) { value, shift in value | UInt64(byte()) << (8 * shift) }
        }
    }
}
