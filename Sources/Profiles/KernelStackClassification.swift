/// What the kernel part of a stack was doing: a subsystem class
/// (`area/proto/io`, e.g. `network/tcp/read`, `ipc//write`, `memory`) and the
/// system call it serves, each when known.
public struct KernelStackClassification: Hashable, Sendable {
    /// The class string as in the table, e.g. `network/tcp/read`; `nil` when no function matched.
    public var kernelClass: String?
    /// The system call, from `__x64_sys_<name>`, `__arm64_sys_<name>` or `ksys_<name>`.
    public var syscallName: String?

    public init(kernelClass: String? = nil, syscallName: String? = nil) {
        self.kernelClass = kernelClass
        self.syscallName = syscallName
    }

    /// The data point attributes: `kernel_area`, `kernel_proto`, `kernel_io` from
    /// the class's three parts (empty parts omitted) and `syscall_name`.
    /// Empty when nothing is known.
    public var attributes: [Attribute] {
        var result: [Attribute] = []
        if let kernelClass {
            let parts = kernelClass.split(separator: "/", omittingEmptySubsequences: false)
            for (key, part) in zip(["kernel_area", "kernel_proto", "kernel_io"], parts) where !part.isEmpty {
                result.append(Attribute(key, String(part)))
            }
        }
        if let syscallName { result.append(Attribute("syscall_name", syscallName)) }
        return result.sorted { $0.key < $1.key }
    }
}
