import CTandemBPF
import RubyLayouts

extension tandem_ruby_layout {
    /// The walker's struct for `layout`, field for field (bpf/tandem_ruby.h).
    package init(_ layout: RubyLayout) {
        self.init(
            version: layout.version.packed,
            ec_vm_stack: layout.executionContextVMStack,
            ec_vm_stack_size: layout.executionContextVMStackSize,
            ec_cfp: layout.executionContextControlFrame,
            control_frame_size: layout.controlFrameSize,
            cfp_pc: layout.controlFramePC,
            cfp_iseq: layout.controlFrameISeq,
            cfp_ep: layout.controlFrameEnvironment,
            iseq_body: layout.iseqBody,
            body_iseq_size: layout.bodySize,
            body_iseq_encoded: layout.bodyEncoded,
            body_location_pathobj: layout.bodyPathObject,
            body_location_label: layout.bodyLabel,
            body_location_first_lineno: layout.bodyFirstLine,
            body_insns_info_body: layout.bodyLineEntries,
            body_insns_info_size: layout.bodyLineEntryCount,
            body_succ_index_table: layout.bodySuccinctTable,
            body_bytes: layout.bodyBytes,
            insn_info_entry_size: layout.lineEntrySize,
            insn_info_line_no: layout.lineEntryLine,
            string_heap_length: layout.stringHeapLength,
            string_heap_pointer: layout.stringHeapPointer,
            string_embedded: layout.stringEmbedded,
            array_embedded: layout.arrayEmbedded,
            array_heap_pointer: layout.arrayHeapPointer,
            string_no_embed_flag: layout.stringNoEmbedFlag,
            string_embed_length_mask: layout.stringEmbedLengthMask,
            string_embed_length_shift: layout.stringEmbedLengthShift,
            array_embed_flag: layout.arrayEmbedFlag,
            frame_magic_mask: layout.frameMagicMask,
            frame_magic_cfunc: layout.frameMagicCFunction,
            frame_flag_finish: layout.frameFlagFinish,
            imemo_iseq_flags: layout.imemoISeqFlags,
            imemo_flags_mask: layout.imemoFlagsMask,
            type_mask: layout.typeMask,
            type_string: layout.typeString,
            type_array: layout.typeArray)
    }
}
