import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Why the sampler cannot start or run, with what to do about it.
public enum SamplerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The process lacks capabilities it needs to start.
    case missingCapabilities([Capability])
    /// The kernel refused the bpf() system call or the program load.
    case bpfUnavailable(SystemCallError, verifierLog: String)
    /// No kernel BTF: the kernel was built without CONFIG_DEBUG_INFO_BTF.
    case btfUnavailable(path: String)
    /// perf_event_open refused by the `kernel.perf_event_paranoid` policy.
    case perfEventParanoid(level: Int, SystemCallError)
    /// perf_event_open failed for another reason.
    case perfEventUnavailable(SystemCallError)
    /// A CPU is online that has no sampling event (it came online after start).
    case cpuHotplug(unsampledCPUs: [Int])
    /// Kernel symbol addresses read as zero (`kernel.kptr_restrict`, or no CAP_SYSLOG).
    case kernelSymbolsHidden(kptrRestrict: Int?)
    /// Any other failed call.
    case systemCall(SystemCallError)
    /// A bad option or configuration value.
    case invalidConfiguration(String)
    /// The capture file (`--output`) cannot be created or opened for writing.
    case captureFileUnavailable(path: String, SystemCallError)
    /// Something other than a regular file of the sampler's user is at the `--output` path.
    case captureFileRefused(path: String, reason: String)
    /// Writing the capture file failed (a full file system, a quota): it holds only the
    /// first `bytesWritten` bytes of the stream.
    case captureFileWriteFailed(path: String, SystemCallError, bytesWritten: UInt64)

    public var description: String {
        switch self {
        case .missingCapabilities(let capabilities):
            let names = capabilities.map(\.description)
            return "missing capabilities: \(names.joined(separator: ", ")); run tandem-sampler as root or grant them (systemd: AmbientCapabilities=\(names.joined(separator: " ")))"
        case .bpfUnavailable(let error, let log):
            var text = "BPF is unavailable: \(error); the kernel needs CONFIG_BPF_SYSCALL and the process CAP_BPF and CAP_PERFMON"
            if !log.isEmpty { text += "\nverifier log:\n\(log)" }
            return text
        case .btfUnavailable(let path):
            return "kernel BTF is unavailable (\(path) is missing); use a kernel built with CONFIG_DEBUG_INFO_BTF=y"
        case .perfEventParanoid(let level, let error):
            return "\(error): kernel.perf_event_paranoid is \(level); grant CAP_PERFMON or run `sysctl kernel.perf_event_paranoid=-1`"
        case .perfEventUnavailable(let error):
            return "cannot open the cpu-clock perf event: \(error)"
        case .cpuHotplug(let cpus):
            return "CPU(s) \(cpus.map(String.init).joined(separator: ",")) came online after start and are not sampled; restart tandem-sampler to sample them"
        case .kernelSymbolsHidden(let level):
            let setting = level.map { "kernel.kptr_restrict is \($0)" } ?? "kernel.kptr_restrict is unknown"
            return "/proc/kallsyms shows zero addresses (\(setting)); the sampler needs CAP_SYSLOG at start, and kptr_restrict <= 1"
        case .systemCall(let error):
            return error.description
        case .invalidConfiguration(let problem):
            return "invalid configuration: \(problem)"
        case .captureFileUnavailable(let path, let error):
            return "cannot open the capture file \(path): \(error); \(Self.captureFileHint(error.errno))"
        case .captureFileRefused(let path, let reason):
            return "refusing to write the capture file \(path): it is \(reason); a capture is a regular file the sampler creates, or one of its own it replaces: remove it or choose another --output"
        case .captureFileWriteFailed(let path, let error, let bytes):
            return "writing the capture file \(path) failed after \(bytes) bytes: \(error); the capture is incomplete; \(Self.captureFileHint(error.errno))"
        }
    }

    /// What to do about a capture file that cannot be opened or written.
    static func captureFileHint(_ error: Int32) -> String {
        switch error {
        case ENOENT, ENOTDIR: "its directory does not exist: create it or choose another --output"
        case EACCES, EPERM:
            "the sampler's user may not write there (it keeps no CAP_DAC_OVERRIDE after start-up): choose a directory it can write to"
        case EROFS: "the file system is read-only: choose another --output"
        case ENOSPC, EDQUOT: "the file system (or the user's quota) is full: free space or choose another --output"
        default: "choose another --output"
        }
    }
}
