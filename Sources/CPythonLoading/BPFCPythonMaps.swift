import CPythonLayouts
import CTandemBPF
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The CPython walker's maps of the loaded BPF object (bpf/cpython.bpf.h), written
/// through `bpf_map_update_elem` on their descriptors: no capability is needed after
/// start-up, the descriptor is the permission.
package final class BPFCPythonMaps: CPythonMapStorage {
    private let layoutsFD: Int32
    private let processesFD: Int32
    private let codeSentFD: Int32
    private let streamFD: Int32

    package init(object: OpaquePointer) throws(SystemCallError) {
        func descriptor(_ name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        layoutsFD = try descriptor("cpython_layouts")
        processesFD = try descriptor("cpython_processes")
        codeSentFD = try descriptor("cpython_code_sent")
        streamFD = try descriptor("cpython_stream")
        // The sampler's own layouts, at the indexes CPythonLoader names them by.
        for (index, layout) in CPythonLayout.supported.enumerated() {
            var key = UInt32(index)
            var value = tandem_cpython_layout(layout)
            guard bpf_map_update_elem(layoutsFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
                throw .last("bpf_map_update_elem(cpython_layouts, \(index))")
            }
        }
    }

    package func writeProcess(pid: Int32, _ process: tandem_cpython_process) -> Bool {
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

    /// Forgets that a code object was sent: the walker sends it again at its next sample.
    package func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) {
        var key = tandem_cpython_code_key(code: code, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(codeSentFD, &key)
    }
}
