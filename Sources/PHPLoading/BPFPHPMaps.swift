import CTandemBPF
import InterpreterLoading
import PHPLayouts
import SystemCalls

/// Where the PHP walker's state goes: the BPF maps (`BPFPHPMaps`), or a test's memory.
package protocol PHPMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_php_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetFunction(pid: Int32, function: UInt64, fingerprint: UInt32)
}

/// The PHP walker's maps of the loaded BPF object (bpf/php.bpf.h).
package final class BPFPHPMaps: PHPMapStorage {
    private let processes: BPFProcessMap
    private let functionsSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "php_processes", runtime: TANDEM_RUNTIME_PHP)
        functionsSent = try BPFObjectMap(object, "php_functions_sent")
        stream = try BPFObjectMap(object, "php_stream")
        // The sampler's own layouts, at the indexes PHPLoader names them by.
        try BPFObjectMap(object, "php_layouts").fill(PHPLayout.supported.map(tandem_php_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_php_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a function was sent: the walker sends it again at its next sample.
    package func forgetFunction(pid: Int32, function: UInt64, fingerprint: UInt32) {
        functionsSent.delete(tandem_php_function_key(function: function, pid: UInt32(bitPattern: pid),
                                                     fingerprint: fingerprint))
    }
}
