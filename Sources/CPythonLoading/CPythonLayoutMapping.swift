import CPythonLayouts
import CTandemBPF

extension tandem_cpython_layout {
    /// The walker's struct for `layout`, field for field (bpf/tandem_cpython.h).
    package init(_ layout: CPythonLayout) {
        self.init(
            version: layout.version.packed,
            runtime_interpreters_head: layout.runtimeInterpretersHead,
            interpreter_next: layout.interpreterNext,
            interpreter_threads_head: layout.interpreterThreadsHead,
            thread_next: layout.threadNext,
            thread_id: layout.threadID,
            thread_frame: layout.threadFrame,
            cframe_current_frame: layout.cframeCurrentFrame,
            frame_previous: layout.framePrevious,
            frame_code: layout.frameCode,
            frame_instruction: layout.frameInstruction,
            frame_owner: layout.frameOwner,
            frame_is_entry: layout.frameIsEntry,
            code_first_line: layout.codeFirstLine,
            code_flags: layout.codeFlags,
            code_name: layout.codeName,
            code_qualname: layout.codeQualifiedName,
            code_filename: layout.codeFileName,
            code_line_table: layout.codeLineTable,
            code_instructions: layout.codeInstructions,
            code_header_bytes: layout.codeHeaderBytes,
            unicode_length: layout.unicodeLength,
            unicode_state: layout.unicodeState,
            unicode_ascii_data: layout.unicodeASCIIData,
            unicode_compact_data: layout.unicodeCompactData,
            bytes_size: layout.bytesSize,
            bytes_data: layout.bytesData,
            instruction_kind: layout.instructionKind.rawValue,
            entry_kind: layout.entryKind.rawValue,
            owner_cstack: layout.ownerCStack,
            reserved: 0)
    }
}
