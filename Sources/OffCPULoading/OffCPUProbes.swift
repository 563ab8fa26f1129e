import CTandemBPF
import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The off-CPU program of the loaded BPF object (bpf/offcpu.bpf.h): a raw tracepoint on
/// `sched_switch` that walks the stacks of a thread going off the CPU when chosen (with
/// the threshold's probability) and emits them with the time it was away when the
/// scheduler switches back to it.
package enum OffCPUProbes {
    /// The program, left unloaded (no verification, nothing attached) when off-CPU is off.
    static let programName = "tandem_switch"

    /// The BPF side's threshold for `probability` (0...1): a switch is chosen when a
    /// random 32-bit number is below it; 1 chooses every switch.
    static func threshold(probability: Double) -> UInt32 {
        if probability >= 1 { return UInt32.max }
        return probability > 0 ? UInt32(max(1, (probability * 4_294_967_296).rounded(.down))) : 0
    }

    /// Before `bpf_object__load`: keeps the program out of the load when `enabled` is false.
    package static func prepare(object: OpaquePointer, enabled: Bool) throws(SystemCallError) {
        guard let program = bpf_object__find_program_by_name(object, programName) else {
            throw SystemCallError("bpf_object__find_program_by_name(\(programName))", errno: ENOENT)
        }
        guard bpf_program__set_autoload(program, enabled) == 0 else {
            throw .last("bpf_program__set_autoload(\(programName))")
        }
    }

    /// After `bpf_object__load`: sets the probability and attaches the program; the link
    /// is the caller's to destroy.
    package static func attach(object: OpaquePointer, probability: Double) throws(SystemCallError) -> OpaquePointer {
        guard let map = bpf_object__find_map_by_name(object, "offcpu_threshold") else {
            throw SystemCallError("bpf_object__find_map_by_name(offcpu_threshold)", errno: ENOENT)
        }
        var key: UInt32 = 0
        var value = threshold(probability: probability)
        guard bpf_map_update_elem(bpf_map__fd(map), &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw .last("bpf_map_update_elem(offcpu_threshold)")
        }
        guard let program = bpf_object__find_program_by_name(object, programName) else {
            throw SystemCallError("bpf_object__find_program_by_name(\(programName))", errno: ENOENT)
        }
        guard let link = bpf_program__attach(program) else { throw .last("bpf_program__attach(\(programName))") }
        return link
    }

    /// The off-CPU counters of a statistics record (`counter` reads the BPF side's).
    package static func addStatistics(to values: inout StatisticsCounters, counter: (tandem_counter) -> UInt64) {
        values[.offCPUSamples] = counter(TANDEM_COUNTER_OFFCPU_SAMPLES)
        values[.offCPUSwitchesRecorded] = counter(TANDEM_COUNTER_OFFCPU_SWITCHES)
        values[.offCPUSwitchesLost] = counter(TANDEM_COUNTER_OFFCPU_PENDING_FULL)
    }
}
