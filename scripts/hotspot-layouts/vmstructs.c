/*
 * Prints one HotSpot build's `HotSpotLayout` (Sources/HotSpotLayouts) as a Swift
 * expression, read from the JVM's own description of itself: the gHotSpotVMStructs,
 * gHotSpotVMTypes and gHotSpotVMIntConstants tables that libjvm.so exports for the
 * serviceability agent. The tables' offsets are filled by libjvm's static constructors,
 * so the library is loaded (dlopen, no JVM is created) and the tables read in memory.
 *
 * Usage: vmstructs /path/to/libjvm.so
 * Fails, naming it, when an entry the walker or the record parser needs is missing.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *library;
static int missing;

static uint64_t global(const char *name) {
    uint64_t *value = dlsym(library, name);
    if (!value) {
        fprintf(stderr, "vmstructs: libjvm.so exports no %s\n", name);
        exit(1);
    }
    return *value;
}

static const char *table(const char *name) {
    char **value = dlsym(library, name);
    if (!value || !*value) {
        fprintf(stderr, "vmstructs: libjvm.so exports no %s\n", name);
        exit(1);
    }
    return *value;
}

static const char *text(const char *entry, uint64_t offset) {
    return *(const char *const *)(entry + offset);
}

/* The offset of a non-static field, from gHotSpotVMStructs. */
static uint64_t field_offset(const char *type, const char *field) {
    const char *entry = table("gHotSpotVMStructs");
    uint64_t stride = global("gHotSpotVMStructEntryArrayStride");
    uint64_t type_name = global("gHotSpotVMStructEntryTypeNameOffset");
    uint64_t field_name = global("gHotSpotVMStructEntryFieldNameOffset");
    uint64_t is_static = global("gHotSpotVMStructEntryIsStaticOffset");
    uint64_t offset = global("gHotSpotVMStructEntryOffsetOffset");
    for (; text(entry, type_name); entry += stride) {
        if (strcmp(text(entry, type_name), type) || !text(entry, field_name) || strcmp(text(entry, field_name), field))
            continue;
        if (*(const int32_t *)(entry + is_static)) {
            fprintf(stderr, "vmstructs: %s::%s is static\n", type, field);
            missing = 1;
            return 0;
        }
        return *(const uint64_t *)(entry + offset);
    }
    fprintf(stderr, "vmstructs: no field %s::%s\n", type, field);
    missing = 1;
    return 0;
}

/* sizeof(type), from gHotSpotVMTypes. */
static uint64_t type_size(const char *type) {
    const char *entry = table("gHotSpotVMTypes");
    uint64_t stride = global("gHotSpotVMTypeEntryArrayStride");
    uint64_t type_name = global("gHotSpotVMTypeEntryTypeNameOffset");
    uint64_t size = global("gHotSpotVMTypeEntrySizeOffset");
    for (; text(entry, type_name); entry += stride)
        if (!strcmp(text(entry, type_name), type))
            return *(const uint64_t *)(entry + size);
    fprintf(stderr, "vmstructs: no type %s\n", type);
    missing = 1;
    return 0;
}

/* An int constant, from gHotSpotVMIntConstants. */
static int32_t int_constant(const char *name) {
    const char *entry = table("gHotSpotVMIntConstants");
    uint64_t stride = global("gHotSpotVMIntConstantEntryArrayStride");
    uint64_t entry_name = global("gHotSpotVMIntConstantEntryNameOffset");
    uint64_t value = global("gHotSpotVMIntConstantEntryValueOffset");
    for (; text(entry, entry_name); entry += stride)
        if (!strcmp(text(entry, entry_name), name))
            return *(const int32_t *)(entry + value);
    fprintf(stderr, "vmstructs: no int constant %s\n", name);
    missing = 1;
    return 0;
}

/* Where a static field is, once the library is loaded. */
static const void *static_address(const char *type, const char *field) {
    const char *entry = table("gHotSpotVMStructs");
    uint64_t stride = global("gHotSpotVMStructEntryArrayStride");
    for (; text(entry, global("gHotSpotVMStructEntryTypeNameOffset")); entry += stride) {
        const char *name = text(entry, global("gHotSpotVMStructEntryFieldNameOffset"));
        if (!strcmp(text(entry, global("gHotSpotVMStructEntryTypeNameOffset")), type) && name && !strcmp(name, field)
            && *(const int32_t *)(entry + global("gHotSpotVMStructEntryIsStaticOffset")))
            return *(const void *const *)(entry + global("gHotSpotVMStructEntryAddressOffset"));
    }
    fprintf(stderr, "vmstructs: no static field %s::%s\n", type, field);
    exit(1);
}

static void line(const char *name, int64_t value) {
    printf("            %s: %lld,\n", name, (long long)value);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: vmstructs /path/to/libjvm.so\n");
        return 2;
    }
    library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "vmstructs: %s\n", dlerror());
        return 1;
    }
    const char *release = *(const char *const *)static_address("Abstract_VM_Version", "_s_vm_release");
    if (!release) {
        fprintf(stderr, "vmstructs: Abstract_VM_Version::_s_vm_release is not set\n");
        return 1;
    }
    int feature = atoi(release);
    /* x86-64 interpreter frame slots, in words from rbp (frame_x86.hpp). The VM exports the
     * first two; the method slot follows last_sp, and since JDK 9 (the mirror slot) the bcp
     * is five slots below the method: mirror, mdp, cache, locals, bcp. */
    int32_t sender_sp = int_constant("frame::interpreter_frame_sender_sp_offset");
    int32_t last_sp = int_constant("frame::interpreter_frame_last_sp_offset");
    int32_t method_slot = last_sp - 1;
    int32_t bcp_slot = method_slot - 5;

    printf("        // %s\n", release);
    printf("        HotSpotLayout(\n");
    printf("            release: \"%s\",\n", release);
    line("featureVersion", feature);
    line("structEntryStride", global("gHotSpotVMStructEntryArrayStride"));
    line("structEntryTypeName", global("gHotSpotVMStructEntryTypeNameOffset"));
    line("structEntryFieldName", global("gHotSpotVMStructEntryFieldNameOffset"));
    line("structEntryIsStatic", global("gHotSpotVMStructEntryIsStaticOffset"));
    line("structEntryAddress", global("gHotSpotVMStructEntryAddressOffset"));
    line("growableArrayLength", field_offset("GrowableArrayBase", "_len"));
    line("growableArrayData", field_offset("GrowableArray<int>", "_data"));
    line("codeHeapMemory", field_offset("CodeHeap", "_memory"));
    line("codeHeapSegmentMap", field_offset("CodeHeap", "_segmap"));
    line("codeHeapLog2SegmentSize", field_offset("CodeHeap", "_log2_segment_size"));
    line("virtualSpaceLow", field_offset("VirtualSpace", "_low"));
    line("virtualSpaceHigh", field_offset("VirtualSpace", "_high"));
    line("heapBlockSize", type_size("HeapBlock"));
    line("codeBlobName", field_offset("CodeBlob", "_name"));
    line("codeBlobSize", field_offset("CodeBlob", "_size"));
    line("codeBlobFrameCompleteOffset", field_offset("CodeBlob", "_frame_complete_offset"));
    line("codeBlobFrameSize", field_offset("CodeBlob", "_frame_size"));
    line("codeBlobCodeBegin", field_offset("CodeBlob", "_code_begin"));
    line("codeBlobCodeEnd", field_offset("CodeBlob", "_code_end"));
    line("compiledMethodMethod", field_offset("CompiledMethod", "_method"));
    line("compiledMethodScopesDataBegin", field_offset("CompiledMethod", "_scopes_data_begin"));
    line("compiledMethodDeoptHandlerBegin", field_offset("CompiledMethod", "_deopt_handler_begin"));
    line("nmethodCompileID", field_offset("nmethod", "_compile_id"));
    line("nmethodCompileLevel", field_offset("nmethod", "_comp_level"));
    line("nmethodEntryBCI", field_offset("nmethod", "_entry_bci"));
    line("nmethodOrigPCOffset", field_offset("nmethod", "_orig_pc_offset"));
    line("nmethodMetadataOffset", field_offset("nmethod", "_metadata_offset"));
    line("nmethodScopesPCsOffset", field_offset("nmethod", "_scopes_pcs_offset"));
    line("nmethodDependenciesOffset", field_offset("nmethod", "_dependencies_offset"));
    line("pcDescSize", type_size("PcDesc"));
    line("pcDescPCOffset", field_offset("PcDesc", "_pc_offset"));
    line("pcDescScopeDecodeOffset", field_offset("PcDesc", "_scope_decode_offset"));
    line("methodConstMethod", field_offset("Method", "_constMethod"));
    line("constMethodConstants", field_offset("ConstMethod", "_constants"));
    line("constMethodSizeWords", field_offset("ConstMethod", "_constMethod_size"));
    line("constMethodFlags", field_offset("ConstMethod", "_flags"));
    line("constMethodCodeSize", field_offset("ConstMethod", "_code_size"));
    line("constMethodNameIndex", field_offset("ConstMethod", "_name_index"));
    line("constMethodSignatureIndex", field_offset("ConstMethod", "_signature_index"));
    line("constMethodSize", type_size("ConstMethod"));
    line("constMethodHasLineNumberTable", int_constant("ConstMethod::_has_linenumber_table"));
    line("constantPoolPoolHolder", field_offset("ConstantPool", "_pool_holder"));
    line("constantPoolSourceFileNameIndex", field_offset("ConstantPool", "_source_file_name_index"));
    line("constantPoolSize", type_size("ConstantPool"));
    line("klassName", field_offset("Klass", "_name"));
    line("symbolLength", field_offset("Symbol", "_length"));
    line("symbolBody", field_offset("Symbol", "_body"));
    line("interpreterFrameSenderSP", sender_sp);
    line("interpreterFrameMethod", method_slot);
    line("interpreterFrameBCP", bcp_slot);
    printf("            invocationEntryBCI: %d\n", int_constant("InvocationEntryBci"));
    printf("        ),\n");
    return missing;
}
