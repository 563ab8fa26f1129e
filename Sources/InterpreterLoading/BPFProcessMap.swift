import CTandemBPF
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// A runtime's `<runtime>_processes` map together with the sampling program's
/// `interpreter_runtimes` (bpf/interpreters.bpf.h), which sends a sample of a pid to the walker
/// of the runtime named there: one lookup per sample whatever the number of runtimes. Writing
/// a process through this type keeps the two maps in step, in the order that lets no sample
/// reach a walker whose process is not there yet or any more.
package struct BPFProcessMap {
    private let processes: BPFObjectMap
    private let runtimes: BPFObjectMap
    private let runtime: UInt32

    /// The map `name` of `object`, for the walker at `runtime` (`enum tandem_runtime`).
    package init(_ object: OpaquePointer, _ name: String, runtime: tandem_runtime) throws(SystemCallError) {
        processes = try BPFObjectMap(object, name)
        runtimes = try BPFObjectMap(object, "interpreter_runtimes")
        self.runtime = runtime.rawValue
    }

    /// Writes the process, then points its pid at this runtime; false (and nothing written)
    /// when either map refuses it, which a full map does.
    package func update<Process: BitwiseCopyable>(pid: Int32, _ process: Process) -> Bool {
        let key = UInt32(bitPattern: pid)
        guard processes.update(key, process) else { return false }
        guard runtimes.update(key, runtime) else {
            processes.delete(key)
            return false
        }
        return true
    }

    /// Unpoints the pid, when it points at this runtime (a hostile aggregator may have named
    /// the pid for two runtimes: the other keeps it), then deletes the process.
    package func delete(pid: Int32) {
        let key = UInt32(bitPattern: pid)
        if runtimes.lookup(key, as: UInt32.self) == runtime {
            runtimes.delete(key)
        }
        processes.delete(key)
    }
}
