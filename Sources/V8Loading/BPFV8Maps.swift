import CTandemBPF
import InterpreterLoading
import SystemCalls
import V8Layouts

/// The V8 walker's maps of the loaded BPF object (bpf/v8.bpf.h).
package final class BPFV8Maps: V8MapStorage {
    private let processes: BPFProcessMap
    private let functionsSent: BPFObjectMap
    private let codesSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "v8_processes", runtime: TANDEM_RUNTIME_V8)
        functionsSent = try BPFObjectMap(object, "v8_functions_sent")
        codesSent = try BPFObjectMap(object, "v8_codes_sent")
        stream = try BPFObjectMap(object, "v8_stream")
        // The sampler's own layouts, at the indexes V8Loader names them by.
        try BPFObjectMap(object, "v8_layouts").fill(V8Layout.supported.map(tandem_v8_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_v8_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a function was sent: the walker sends it again at its next sample.
    package func forgetFunction(pid: Int32, sharedFunctionInfo: UInt64, fingerprint: UInt32) {
        functionsSent.delete(tandem_v8_function_key(sfi: sharedFunctionInfo, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }

    /// Forgets that a code object was sent: the walker sends it again at its next sample.
    package func forgetCode(pid: Int32, instructionStart: UInt64, fingerprint: UInt32) {
        codesSent.delete(tandem_v8_code_key(instruction_start: instructionStart, pid: UInt32(bitPattern: pid),
                                            fingerprint: fingerprint))
    }
}
