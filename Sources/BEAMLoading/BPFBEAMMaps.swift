import BEAMLayouts
import CTandemBPF
import InterpreterLoading
import SystemCalls

/// Where the BEAM walker's state goes: the BPF maps (`BPFBEAMMaps`), or a test's memory.
package protocol BEAMMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_beam_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetFunction(pid: Int32, codeInfo: UInt64, instance: UInt32)
}

/// The BEAM walker's maps of the loaded BPF object (bpf/beam.bpf.h).
package final class BPFBEAMMaps: BEAMMapStorage {
    private let processes: BPFProcessMap
    private let functionsSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "beam_processes", runtime: TANDEM_RUNTIME_BEAM)
        functionsSent = try BPFObjectMap(object, "beam_functions_sent")
        stream = try BPFObjectMap(object, "beam_stream")
        // The sampler's own layouts, at the indexes BEAMLoader names them by.
        try BPFObjectMap(object, "beam_layouts").fill(BEAMLayout.supported.map(tandem_beam_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_beam_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a function was sent: the walker sends it again at its next sample.
    package func forgetFunction(pid: Int32, codeInfo: UInt64, instance: UInt32) {
        functionsSent.delete(tandem_beam_function_key(code_info: codeInfo, pid: UInt32(bitPattern: pid), instance: instance))
    }
}
