import CTandemBPF
import InterpreterLoading
import PerlLayouts
import SystemCalls

/// Where the Perl walker's state goes: the BPF maps (`BPFPerlMaps`), or a test's memory.
package protocol PerlMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_perl_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetSub(pid: Int32, address: UInt64, fingerprint: UInt32)
}

/// The Perl walker's maps of the loaded BPF object (bpf/perl.bpf.h).
package final class BPFPerlMaps: PerlMapStorage {
    private let processes: BPFProcessMap
    private let subsSent: BPFObjectMap
    private let stream: BPFObjectMap

    package init(object: OpaquePointer) throws(SystemCallError) {
        processes = try BPFProcessMap(object, "perl_processes", runtime: TANDEM_RUNTIME_PERL)
        subsSent = try BPFObjectMap(object, "perl_subs_sent")
        stream = try BPFObjectMap(object, "perl_stream")
        // The sampler's own layouts, at the indexes PerlLoader names them by.
        try BPFObjectMap(object, "perl_layouts").fill(PerlLayout.supported.map(tandem_perl_layout.init))
    }

    package func writeProcess(pid: Int32, _ process: tandem_perl_process) -> Bool {
        processes.update(pid: pid, process)
    }

    package func removeProcess(pid: Int32) {
        processes.delete(pid: pid)
    }

    package func writeStreamGeneration(_ generation: UInt64) {
        stream.update(UInt32(0), generation)
    }

    /// Forgets that a sub was sent: the walker sends it again at its next sample.
    package func forgetSub(pid: Int32, address: UInt64, fingerprint: UInt32) {
        subsSent.delete(tandem_perl_sub_key(address: address, pid: UInt32(bitPattern: pid), fingerprint: fingerprint))
    }
}
