import CTandemBPF
#if canImport(Glibc)
import Glibc
#endif

/// A Linux capability, by its number in <linux/capability.h>.
public struct Capability: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let dacOverride = Capability(rawValue: 1)
    public static let dacReadSearch = Capability(rawValue: 2)
    public static let setpcap = Capability(rawValue: 8)
    public static let sysPtrace = Capability(rawValue: 19)
    public static let sysAdmin = Capability(rawValue: 21)
    public static let sysResource = Capability(rawValue: 24)
    public static let syslog = Capability(rawValue: 34)
    public static let perfmon = Capability(rawValue: 38)
    public static let bpf = Capability(rawValue: 39)

    public static func < (lhs: Capability, rhs: Capability) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .dacOverride: "CAP_DAC_OVERRIDE"
        case .dacReadSearch: "CAP_DAC_READ_SEARCH"
        case .setpcap: "CAP_SETPCAP"
        case .sysPtrace: "CAP_SYS_PTRACE"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .sysResource: "CAP_SYS_RESOURCE"
        case .syslog: "CAP_SYSLOG"
        case .perfmon: "CAP_PERFMON"
        case .bpf: "CAP_BPF"
        default: "capability \(rawValue)"
        }
    }

    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// The capability sets of the calling process (`capget(2)`), and the calls that shrink them.
public struct ProcessCapabilities: Hashable, Sendable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64

    /// `capget(2)` of the calling process.
    public static func current() throws(SamplerError) -> ProcessCapabilities {
        var raw = tandem_capabilities()
        guard tandem_capget(&raw) == 0 else { throw .systemCall(.last("capget")) }
        return ProcessCapabilities(effective: raw.effective, permitted: raw.permitted, inheritable: raw.inheritable)
    }

    public func hasEffective(_ capability: Capability) -> Bool { effective & capability.bit != 0 }

    /// The capabilities the sampler needs to start: load BPF (CAP_BPF), open system-wide
    /// perf events and attach tracing programs (CAP_PERFMON), read kernel symbol
    /// addresses (CAP_SYSLOG) and other users' /proc/PID/maps and exe (CAP_SYS_PTRACE).
    public static let requiredAtStart: [Capability] = [.bpf, .perfmon, .syslog, .sysPtrace]

    /// The capabilities kept after start-up: reading /proc/PID/maps and /proc/PID/exe of
    /// processes of other users needs a ptrace-read check to pass (see docs/security.md).
    public static let keptAfterStart: [Capability] = [.sysPtrace]

    /// Throws `missingCapabilities` naming every required capability not in the effective set.
    public func require(_ capabilities: [Capability]) throws(SamplerError) {
        let missing = capabilities.filter { !hasEffective($0) }
        if !missing.isEmpty { throw .missingCapabilities(missing) }
    }

    /// Highest capability number the running kernel knows.
    static func lastCapability() -> Int32 {
        if let text = try? ProcFileSystem.readText("/proc/sys/kernel/cap_last_cap"),
           let value = Int32(text.trimmingWhitespace()) {
            return value
        }
        return tandem_cap_last_cap_compiled()
    }

    /// Reduces the process to `keep`: empties the bounding set of everything else (needs
    /// CAP_SETPCAP, so done first, and skipped without it: an unprivileged user started
    /// with ambient capabilities cannot, and no_new_privs already stops an exec from
    /// gaining anything), clears the ambient set, sets the effective and permitted sets
    /// to `keep` and the inheritable set to nothing, then sets no_new_privs.
    public static func dropAll(except keep: [Capability]) throws(SamplerError) {
        let keepBits = keep.reduce(UInt64(0)) { $0 | $1.bit }
        let last = lastCapability()
        let canShrinkBoundingSet = try current().hasEffective(.setpcap)
        for number in 0...last where canShrinkBoundingSet && keepBits & (UInt64(1) << UInt64(number)) == 0 {
            if tandem_capbset_read(number) == 1, tandem_capbset_drop(number) != 0 {
                throw .systemCall(.last("prctl(PR_CAPBSET_DROP, \(Capability(rawValue: number)))"))
            }
        }
        guard tandem_clear_ambient_capabilities() == 0 else {
            throw .systemCall(.last("prctl(PR_CAP_AMBIENT_CLEAR_ALL)"))
        }
        let current = try current()
        var reduced = tandem_capabilities()
        reduced.effective = current.effective & keepBits
        reduced.permitted = current.permitted & keepBits
        reduced.inheritable = 0
        guard tandem_capset(&reduced) == 0 else { throw .systemCall(.last("capset")) }
        guard tandem_set_no_new_privs() == 0 else { throw .systemCall(.last("prctl(PR_SET_NO_NEW_PRIVS)")) }
    }
}
