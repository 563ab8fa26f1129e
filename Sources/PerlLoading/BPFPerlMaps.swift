import CTandemBPF
import PerlLayouts
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Where the Perl walker's state goes: the BPF maps (`BPFPerlMaps`), or a test's memory.
package protocol PerlMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_perl_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetSub(pid: Int32, address: UInt64, fingerprint: UInt32)
}

/// The Perl walker's maps of the loaded BPF object (bpf/perl.bpf.h), written through
/// `bpf_map_update_elem` on their descriptors: no capability is needed after start-up.
package final class BPFPerlMaps: PerlMapStorage {
    private let processesFD: Int32
    private let subsSentFD: Int32
    private let streamFD: Int32

    package init(object: OpaquePointer) throws(SystemCallError) {
        func descriptor(_ name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        let layoutsFD = try descriptor("perl_layouts")
        processesFD = try descriptor("perl_processes")
        subsSentFD = try descriptor("perl_subs_sent")
        streamFD = try descriptor("perl_stream")
        // The sampler's own layouts, at the indexes PerlLoader names them by.
        for (index, layout) in PerlLayout.supported.enumerated() {
            var key = UInt32(index)
            var value = tandem_perl_layout(layout)
            guard bpf_map_update_elem(layoutsFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
                throw .last("bpf_map_update_elem(perl_layouts, \(index))")
            }
        }
    }

    package func writeProcess(pid: Int32, _ process: tandem_perl_process) -> Bool {
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

    /// Forgets that a sub was sent: the walker sends it again at its next sample.
    package func forgetSub(pid: Int32, address: UInt64, fingerprint: UInt32) {
        var key = tandem_perl_sub_key(address: address, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(subsSentFD, &key)
    }
}
