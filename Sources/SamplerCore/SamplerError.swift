import SystemCallErrors

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
        }
    }
}
