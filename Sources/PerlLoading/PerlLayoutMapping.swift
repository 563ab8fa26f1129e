import CTandemBPF
import PerlLayouts

extension tandem_perl_layout {
    /// The walker's struct for `layout`, field for field (bpf/tandem_perl.h).
    package init(_ layout: PerlLayout) {
        self.init(
            version: layout.version.packed,
            interpreter_curstackinfo: layout.interpreterCurrentStackInfo,
            interpreter_curcop: layout.interpreterCurrentCOP,
            stackinfo_cxstack: layout.stackInfoContextStack,
            stackinfo_prev: layout.stackInfoPrevious,
            stackinfo_cxix: layout.stackInfoContextIndex,
            stackinfo_type: layout.stackInfoType,
            context_size: layout.contextSize,
            context_type: layout.contextType,
            context_oldcop: layout.contextOldCOP,
            context_sub_cv: layout.contextSubCV,
            context_sub_retop: layout.contextSubReturnOp,
            cop_line: layout.copLine,
            cop_file: layout.copFile,
            sv_any: layout.svBody,
            sv_flags: layout.svFlags,
            cv_stash: layout.cvStash,
            cv_gv: layout.cvGV,
            cv_file: layout.cvFile,
            cv_flags: layout.cvFlags,
            gv_name: layout.gvName,
            gv_stash: layout.gvStash,
            hv_aux: layout.hvAux,
            aux_name: layout.auxName,
            aux_name_count: layout.auxNameCount,
            hek_length: layout.hekLength,
            hek_key: layout.hekKey)
    }
}
