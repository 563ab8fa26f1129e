import CTandemBPF
import HotSpotLayouts
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The JVM walker's maps of the loaded BPF object (bpf/hotspot_unwind.bpf.h, hotspot.bpf.h),
/// written through `bpf_map_update_elem` on their descriptors.
package final class BPFHotSpotMaps: HotSpotMapStorage {
    private let processesFD: Int32
    private let methodsSentFD: Int32
    private let codesSentFD: Int32
    private let streamFD: Int32

    package init(object: OpaquePointer) throws(SystemCallError) {
        func descriptor(_ name: String) throws(SystemCallError) -> Int32 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
            }
            return bpf_map__fd(map)
        }
        let layoutsFD = try descriptor("hotspot_layouts")
        processesFD = try descriptor("hotspot_processes")
        methodsSentFD = try descriptor("hotspot_methods_sent")
        codesSentFD = try descriptor("hotspot_codes_sent")
        streamFD = try descriptor("hotspot_stream")
        // The sampler's own layouts, at the indexes HotSpotLoader names them by.
        for (index, layout) in HotSpotLayout.supported.enumerated() {
            var key = UInt32(index)
            var value = tandem_hotspot_layout(layout)
            guard bpf_map_update_elem(layoutsFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
                throw .last("bpf_map_update_elem(hotspot_layouts, \(index))")
            }
        }
    }

    package func writeProcess(pid: Int32, _ process: tandem_hotspot_process) -> Bool {
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

    package func forgetMethod(pid: Int32, method: UInt64, fingerprint: UInt32) {
        var key = tandem_hotspot_method_key(method: method, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(methodsSentFD, &key)
    }

    package func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) {
        var key = tandem_hotspot_method_key(method: code, pid: UInt32(bitPattern: pid), fingerprint: fingerprint)
        _ = bpf_map_delete_elem(codesSentFD, &key)
    }
}
