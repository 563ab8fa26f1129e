import CTandemBPF
import HotSpotLayouts

extension tandem_hotspot_layout {
    /// The walker's struct for `layout` (bpf/tandem_hotspot.h): the fields the BPF walk reads.
    package init(_ layout: HotSpotLayout) {
        self.init(
            feature_version: UInt16(clamping: layout.featureVersion),
            growable_array_length: layout.growableArrayLength,
            growable_array_data: layout.growableArrayData,
            code_heap_memory: layout.codeHeapMemory,
            code_heap_segment_map: layout.codeHeapSegmentMap,
            code_heap_log2_segment_size: layout.codeHeapLog2SegmentSize,
            virtual_space_low: layout.virtualSpaceLow,
            virtual_space_high: layout.virtualSpaceHigh,
            heap_block_size: layout.heapBlockSize,
            code_blob_name: layout.codeBlobName,
            code_blob_frame_complete: layout.codeBlobFrameCompleteOffset,
            code_blob_frame_size: layout.codeBlobFrameSize,
            code_blob_code_begin: layout.codeBlobCodeBegin,
            compiled_method_method: layout.compiledMethodMethod,
            nmethod_compile_id: layout.nmethodCompileID,
            method_const_method: layout.methodConstMethod,
            const_method_constants: layout.constMethodConstants,
            const_method_size_words: layout.constMethodSizeWords,
            const_method_code_size: layout.constMethodCodeSize,
            const_method_name_index: layout.constMethodNameIndex,
            const_method_size: layout.constMethodSize,
            constant_pool_pool_holder: layout.constantPoolPoolHolder,
            constant_pool_source_file: layout.constantPoolSourceFileNameIndex,
            constant_pool_size: layout.constantPoolSize,
            klass_name: layout.klassName,
            symbol_length: layout.symbolLength,
            symbol_body: layout.symbolBody,
            interpreter_sender_sp: layout.interpreterFrameSenderSP,
            interpreter_method: layout.interpreterFrameMethod,
            interpreter_bcp: layout.interpreterFrameBCP,
            reserved: 0,
            nmethod_metadata_offset: layout.nmethodMetadataOffset,
            nmethod_scopes_pcs_offset: layout.nmethodScopesPCsOffset,
            nmethod_dependencies_offset: layout.nmethodDependenciesOffset,
            compiled_method_scopes_data: layout.compiledMethodScopesDataBegin)
    }
}
