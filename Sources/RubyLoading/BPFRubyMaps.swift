import CTandemBPF
import RubyLayouts
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The Ruby walker's maps of the loaded BPF object (bpf/ruby.bpf.h), written through
/// `bpf_map_update_elem` on their descriptors.
package final class BPFRubyMaps: RubyMapStorage {
    private let layoutsFD: Int32
    private let processesFD: Int32
    private let iseqSentFD: Int32
    private let streamFD: Int32

    package init(object: OpaquePointer) throws(SystemCallError) {
        func descriptor(_ name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        layoutsFD = try descriptor("ruby_layouts")
        processesFD = try descriptor("ruby_processes")
        iseqSentFD = try descriptor("ruby_iseq_sent")
        streamFD = try descriptor("ruby_stream")
        for (index, layout) in RubyLayout.supported.enumerated() {
            var key = UInt32(index)
            var value = tandem_ruby_layout(layout)
            guard bpf_map_update_elem(layoutsFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
                throw .last("bpf_map_update_elem(ruby_layouts, \(index))")
            }
        }
    }

    package func writeProcess(pid: Int32, _ process: tandem_ruby_process) -> Bool {
        var key = UInt32(bitPattern: pid)
        var value = process
        return bpf_map_update_elem(processesFD, &key, &value, UInt64(BPF_ANY)) == 0
    }

    package func removeProcess(pid: Int32) {
        var key = UInt32(bitPattern: pid)
        _ = bpf_map_delete_elem(processesFD, &key)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        var key: UInt32 = 0
        var value = generation
        _ = bpf_map_update_elem(streamFD, &key, &value, UInt64(BPF_ANY))
    }

    package func forgetISeq(pid: Int32, iseq: UInt64, fingerprint: UInt32) {
        var key = tandem_ruby_iseq_key(iseq: iseq, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(iseqSentFD, &key)
    }
}
