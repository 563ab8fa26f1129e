import BEAMLayouts
import CTandemBPF

extension tandem_beam_layout {
    /// The walker's struct for `layout`, field for field (bpf/tandem_beam.h).
    package init(_ layout: BEAMLayout) {
        self.init(
            erts_major: layout.ertsMajor,
            otp_release: layout.otpRelease,
            ranges_size: layout.rangesSize,
            ranges_modules: layout.rangesModules,
            ranges_count: layout.rangesCount,
            range_size: layout.rangeSize,
            code_header_function_count: layout.codeHeaderFunctionCount,
            code_header_functions: layout.codeHeaderFunctions,
            code_info_mfa: layout.codeInfoMFA,
            index_table_segments: layout.indexTableSegments,
            atom_length: layout.atomLength,
            atom_name: layout.atomName,
            atom_segment_shift: layout.atomSegmentShift,
            atom_term_shift: layout.atomTermShift,
            atom_tag_mask: layout.atomTagMask,
            atom_tag: layout.atomTag,
            code_index_count: layout.codeIndexCount,
            reserved: 0,
            code_header_line_table: layout.codeHeaderLineTable,
            line_table_file_names: layout.lineTableFileNames,
            line_table_location_size: layout.lineTableLocationSize,
            line_table_locations: layout.lineTableLocations,
            line_table_functions: layout.lineTableFunctions,
            scheduler_data_size: layout.schedulerDataSize,
            scheduler_registers: layout.schedulerRegisters,
            scheduler_current_process: layout.schedulerCurrentProcess,
            process_stop: layout.processStop,
            scheduler_thread: layout.schedulerThread,
            process_instruction: layout.processInstruction)
    }
}
