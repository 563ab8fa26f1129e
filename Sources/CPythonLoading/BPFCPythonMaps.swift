import CPythonLayouts
import CTandemBPF
import InterpreterLoading
import SystemCalls

/// The CPython walker's maps of the loaded BPF object (bpf/cpython.bpf.h).
package final class BPFCPythonMaps: CPythonMapStorage {
    private let processes: BPFProcessMap
    private let codeSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "cpython_processes", runtime: TANDEM_RUNTIME_CPYTHON)
        codeSent = try BPFObjectMap(object, "cpython_code_sent")
        stream = try BPFObjectMap(object, "cpython_stream")
        // The sampler's own layouts, at the indexes CPythonLoader names them by.
        try BPFObjectMap(object, "cpython_layouts").fill(CPythonLayout.supported.map(tandem_cpython_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_cpython_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a code object was sent: the walker sends it again at its next sample.
    package func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) {
        codeSent.delete(tandem_cpython_code_key(code: code, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }
}
