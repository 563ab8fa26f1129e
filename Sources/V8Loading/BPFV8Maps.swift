import CTandemBPF
import SystemCalls
import V8Layouts
#if canImport(Glibc)
import Glibc
#endif

/// The V8 walker's maps of the loaded BPF object (bpf/v8.bpf.h), written through
/// `bpf_map_update_elem` on their descriptors: no capability is needed after start-up,
/// the descriptor is the permission.
package final class BPFV8Maps: V8MapStorage {
    private let processesFD: Int32
    private let functionsSentFD: Int32
    private let streamFD: Int32

    package init(object: OpaquePointer) throws(SystemCallError) {
        func descriptor(_ name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        let layoutsFD = try descriptor("v8_layouts")
        processesFD = try descriptor("v8_processes")
        functionsSentFD = try descriptor("v8_functions_sent")
        streamFD = try descriptor("v8_stream")
        // The sampler's own layouts, at the indexes V8Loader names them by.
        for (index, layout) in V8Layout.supported.enumerated() {
            var key = UInt32(index)
            var value = tandem_v8_layout(layout)
            guard bpf_map_update_elem(layoutsFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
                throw .last("bpf_map_update_elem(v8_layouts, \(index))")
            }
        }
    }

    package func writeProcess(pid: Int32, _ process: tandem_v8_process) -> Bool {
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

    /// Forgets that a function was sent: the walker sends it again at its next sample.
    package func forgetFunction(pid: Int32, sharedFunctionInfo: UInt64, fingerprint: UInt32) {
        var key = tandem_v8_function_key(sfi: sharedFunctionInfo, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(functionsSentFD, &key)
    }
}
