import CTandemBPF
import HotSpotLayouts
import InterpreterLoading
import SystemCalls

/// The JVM walker's maps of the loaded BPF object (bpf/hotspot.bpf.h).
package final class BPFHotSpotMaps: HotSpotMapStorage {
    private let processes: BPFProcessMap
    private let methodsSent: BPFObjectMap
    private let codesSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "hotspot_processes", runtime: TANDEM_RUNTIME_JVM)
        methodsSent = try BPFObjectMap(object, "hotspot_methods_sent")
        codesSent = try BPFObjectMap(object, "hotspot_codes_sent")
        stream = try BPFObjectMap(object, "hotspot_stream")
        // The sampler's own layouts, at the indexes HotSpotLoader names them by.
        try BPFObjectMap(object, "hotspot_layouts").fill(HotSpotLayout.supported.map(tandem_hotspot_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_hotspot_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a method was sent: the walker sends it again at its next sample.
    package func forgetMethod(pid: Int32, method: UInt64, fingerprint: UInt32) {
        methodsSent.delete(tandem_hotspot_method_key(method: method, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }

    /// Forgets that an nmethod's code record was sent: the walker sends it again at its next sample.
    package func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) {
        codesSent.delete(tandem_hotspot_method_key(method: code, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }
}
