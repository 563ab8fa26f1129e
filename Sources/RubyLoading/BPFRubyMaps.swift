import CTandemBPF
import InterpreterLoading
import RubyLayouts
import SystemCalls

/// The Ruby walker's maps of the loaded BPF object (bpf/ruby.bpf.h).
package final class BPFRubyMaps: RubyMapStorage {
    private let processes: BPFProcessMap
    private let iseqSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "ruby_processes", runtime: TANDEM_RUNTIME_RUBY)
        iseqSent = try BPFObjectMap(object, "ruby_iseq_sent")
        stream = try BPFObjectMap(object, "ruby_stream")
        // The sampler's own layouts, at the indexes RubyLoader names them by.
        try BPFObjectMap(object, "ruby_layouts").fill(RubyLayout.supported.map(tandem_ruby_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_ruby_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that an iseq was sent: the walker sends it again at its next sample.
    package func forgetISeq(pid: Int32, iseq: UInt64, fingerprint: UInt32) {
        iseqSent.delete(tandem_ruby_iseq_key(iseq: iseq, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }
}
