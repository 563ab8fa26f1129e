#if canImport(Glibc)
import Glibc
#endif

/// The machine (`uname -m`) the aggregator runs on: the sampled host's when it serves the
/// host it runs on, which is when the profiles carry a `host.id` (the stream header does not
/// name the machine).
enum HostMachine {
    /// `x86_64`, `aarch64`, ...; nil if `uname` fails.
    static let current: String? = {
        var names = utsname()
        guard uname(&names) == 0 else { return nil }
        let machine = withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return machine.isEmpty ? nil : machine
    }()
}
