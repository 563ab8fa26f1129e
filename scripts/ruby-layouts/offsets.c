/*
 * Prints the `struct tandem_ruby_layout` (bpf/tandem_ruby.h) of the Ruby whose headers it is
 * compiled against, as a Swift `RubyLayout(...)` expression, or with -k as `name value` lines
 * for scripts/ruby-layouts/walk_ruby.py. Compiled by scripts/ruby-layouts.sh.
 *
 * What the public headers (ruby-dev) define is taken from them: RString, RArray and the
 * flag bits. The VM's own structs (vm_core.h, iseq.h) are not installed, so this file
 * declares their leading members, in order and with their types, as Ruby 3.1's source
 * has them (v3_1_2: rb_execution_context_struct, rb_control_frame_struct without
 * VM_DEBUG_BP_CHECK, rb_iseq_struct, rb_iseq_constant_body up to insns_info,
 * rb_iseq_location_struct, iseq_insn_info_entry with USE_ISEQ_NODE_ID, succ_index_table,
 * method.h's rb_callable_method_entry_struct and rb_method_definition_struct, symbol.c's
 * rb_symbols_t), and the compiler lays them out. walk_ruby.py checks the result against a
 * running ruby. The symbol table's constants (tLAST_OP_ID, ID_SCOPE_SHIFT, ID_ENTRY_UNIT,
 * ID_ENTRY_SIZE) are checked against Debian's libruby 3.1.2 code too: rb_id2str compares
 * with 0xa9 and shifts by 4; its entry lookup shifts the serial by 9, masks 0x1ff and
 * doubles it (docs/ruby.md).
 */
#include <ruby.h>
#include <ruby/version.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if RUBY_API_VERSION_MAJOR != 3 || RUBY_API_VERSION_MINOR != 1
#error "scripts/ruby-layouts/offsets.c declares Ruby 3.1's internal structs; add the other version's"
#endif

/* vm_core.h */
struct mirror_control_frame {
    const VALUE *pc;
    VALUE *sp;
    const void *iseq;
    VALUE self;
    const VALUE *ep;
    const void *block_code;
    VALUE *bp;
    void *jit_return;
};

struct mirror_execution_context {
    VALUE *vm_stack;
    size_t vm_stack_size;
    struct mirror_control_frame *cfp;
};

struct mirror_iseq {
    VALUE flags;
    VALUE wrapper;
    void *body;
};

struct mirror_code_position { int lineno; int column; };
struct mirror_code_location { struct mirror_code_position beg_pos, end_pos; };

struct mirror_iseq_location {
    VALUE pathobj;
    VALUE base_label;
    VALUE label;
    VALUE first_lineno;
    int node_id;
    struct mirror_code_location code_location;
};

struct mirror_iseq_constant_body {
    int type;                       /* enum iseq_type */
    unsigned int iseq_size;
    VALUE *iseq_encoded;
    struct {
        unsigned int flags;         /* the has_* bit-fields: one unsigned int */
        unsigned int size;
        int lead_num, opt_num, rest_start, post_start, post_num, block_start;
        const VALUE *opt_table;
        const void *keyword;
    } param;
    struct mirror_iseq_location location;
    struct {
        const void *body;
        unsigned int *positions;
        unsigned int size;
        void *succ_index_table;     /* VM_INSN_INFO_TABLE_IMPL == 2 */
    } insns_info;
};

/* method.h: the method entry a C-method frame's ep[VM_ENV_DATA_INDEX_ME_CREF] holds */
struct mirror_method_entry {
    VALUE flags;
    VALUE defined_class;
    const void *def;                /* rb_method_definition_t * */
    ID called_id;
    VALUE owner;
};

struct mirror_method_definition {
    unsigned int type_overload_alias;   /* type:4, iseq_overload:1, alias_count:27 */
    unsigned int complemented_count;    /* complemented_count:28 */
    union {                             /* the largest members: rb_method_cfunc_t, rb_method_bmethod_t */
        struct { void *func; void *invoker; int argc; } cfunc;
        struct { VALUE proc; void *hooks; VALUE defined_ractor; } bmethod;
    } body;
    ID original_id;
    uintptr_t method_serial;
};

/* symbol.c: ruby_global_symbols */
struct mirror_symbols {
    unsigned int last_id;               /* rb_id_serial_t */
    void *str_sym;                      /* st_table * */
    VALUE ids;                          /* Array of Arrays of ID_ENTRY_UNIT * ID_ENTRY_SIZE entries */
    VALUE dsymbol_fstr_hash;
};

/* iseq.h */
struct mirror_insn_info_entry {
    int line_no;
    int node_id;
    unsigned int events;            /* rb_event_flag_t */
};

/* vm_core.h frame magic and flags, internal/imemo.h's imemo_iseq */
#define MIRROR_FRAME_MAGIC_MASK 0x7fff0001u
#define MIRROR_FRAME_MAGIC_CFUNC 0x55550001u
#define MIRROR_FRAME_FLAG_FINISH 0x0020u
#define MIRROR_IMEMO_ISEQ 7u
#define MIRROR_IMEMO_MASK 0x0fu
#define MIRROR_IMEMO_MENT 6u
/* VM_ENV_DATA_INDEX_ME_CREF: ep[-2] */
#define MIRROR_ENV_DATA_INDEX_ME_CREF (-2)
/* id.h (generated) and symbol.c */
#define MIRROR_LAST_OP_ID 0xa9u
#define MIRROR_ID_SCOPE_SHIFT 4u
#define MIRROR_ID_ENTRY_UNIT 512u
#define MIRROR_ID_ENTRY_SIZE 2u

#define END(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static int keys = 0;
static void field(const char *name, unsigned long value, int last) {
    if (keys) printf("%s %lu\n", name, value);
    else printf("            %s: %lu%s\n", name, value, last ? "" : ",");
}

int main(int argc, char **argv) {
    keys = argc > 1 && strcmp(argv[1], "-k") == 0;
    size_t body_end = MAX(END(struct mirror_iseq_constant_body, insns_info.succ_index_table),
                          END(struct mirror_iseq_constant_body, location.first_lineno));
    body_end = (body_end + 7) & ~(size_t)7;
    if (body_end > 160) {
        fprintf(stderr, "ruby-layouts: the body fields end at %zu, past TANDEM_RUBY_BODY_BYTES\n", body_end);
        return 1;
    }
    if (!keys) {
        printf("        // Ruby %d.%d (API %d.%d.%d headers)\n", RUBY_API_VERSION_MAJOR, RUBY_API_VERSION_MINOR, RUBY_API_VERSION_MAJOR, RUBY_API_VERSION_MINOR, RUBY_API_VERSION_TEENY);
        printf("        RubyLayout(\n");
        printf("            version: .init(major: %d, minor: %d),\n", RUBY_API_VERSION_MAJOR, RUBY_API_VERSION_MINOR);
    } else {
        printf("version %d\n", RUBY_API_VERSION_MAJOR << 8 | RUBY_API_VERSION_MINOR);
    }
    field(keys ? "ec_vm_stack" : "executionContextVMStack", offsetof(struct mirror_execution_context, vm_stack), 0);
    field(keys ? "ec_vm_stack_size" : "executionContextVMStackSize", offsetof(struct mirror_execution_context, vm_stack_size), 0);
    field(keys ? "ec_cfp" : "executionContextControlFrame", offsetof(struct mirror_execution_context, cfp), 0);
    field(keys ? "control_frame_size" : "controlFrameSize", sizeof(struct mirror_control_frame), 0);
    field(keys ? "cfp_pc" : "controlFramePC", offsetof(struct mirror_control_frame, pc), 0);
    field(keys ? "cfp_iseq" : "controlFrameISeq", offsetof(struct mirror_control_frame, iseq), 0);
    field(keys ? "cfp_ep" : "controlFrameEnvironment", offsetof(struct mirror_control_frame, ep), 0);
    field(keys ? "iseq_body" : "iseqBody", offsetof(struct mirror_iseq, body), 0);
    field(keys ? "body_iseq_size" : "bodySize", offsetof(struct mirror_iseq_constant_body, iseq_size), 0);
    field(keys ? "body_iseq_encoded" : "bodyEncoded", offsetof(struct mirror_iseq_constant_body, iseq_encoded), 0);
    field(keys ? "body_location_pathobj" : "bodyPathObject", offsetof(struct mirror_iseq_constant_body, location.pathobj), 0);
    field(keys ? "body_location_label" : "bodyLabel", offsetof(struct mirror_iseq_constant_body, location.label), 0);
    field(keys ? "body_location_first_lineno" : "bodyFirstLine", offsetof(struct mirror_iseq_constant_body, location.first_lineno), 0);
    field(keys ? "body_insns_info_body" : "bodyLineEntries", offsetof(struct mirror_iseq_constant_body, insns_info.body), 0);
    field(keys ? "body_insns_info_size" : "bodyLineEntryCount", offsetof(struct mirror_iseq_constant_body, insns_info.size), 0);
    field(keys ? "body_succ_index_table" : "bodySuccinctTable", offsetof(struct mirror_iseq_constant_body, insns_info.succ_index_table), 0);
    field(keys ? "body_bytes" : "bodyBytes", body_end, 0);
    field(keys ? "insn_info_entry_size" : "lineEntrySize", sizeof(struct mirror_insn_info_entry), 0);
    field(keys ? "insn_info_line_no" : "lineEntryLine", offsetof(struct mirror_insn_info_entry, line_no), 0);
    field(keys ? "string_heap_length" : "stringHeapLength", offsetof(struct RString, as.heap.len), 0);
    field(keys ? "string_heap_pointer" : "stringHeapPointer", offsetof(struct RString, as.heap.ptr), 0);
    field(keys ? "string_embedded" : "stringEmbedded", offsetof(struct RString, as.embed.ary), 0);
    field(keys ? "array_embedded" : "arrayEmbedded", offsetof(struct RArray, as.ary), 0);
    field(keys ? "array_heap_pointer" : "arrayHeapPointer", offsetof(struct RArray, as.heap.ptr), 0);
    field(keys ? "ep_method_entry" : "environmentMethodEntry", (unsigned long)(-MIRROR_ENV_DATA_INDEX_ME_CREF) * sizeof(VALUE), 0);
    field(keys ? "method_entry_definition" : "methodEntryDefinition", offsetof(struct mirror_method_entry, def), 0);
    field(keys ? "definition_original_id" : "definitionOriginalID", offsetof(struct mirror_method_definition, original_id), 0);
    field(keys ? "symbols_last_id" : "symbolsLastID", offsetof(struct mirror_symbols, last_id), 0);
    field(keys ? "symbols_ids" : "symbolsIDs", offsetof(struct mirror_symbols, ids), 0);
    field(keys ? "symbols_bytes" : "symbolsBytes", MAX(END(struct mirror_symbols, last_id), END(struct mirror_symbols, ids)), 0);
    field(keys ? "array_heap_length" : "arrayHeapLength", offsetof(struct RArray, as.heap.len), 0);
    field(keys ? "id_scope_shift" : "idScopeShift", MIRROR_ID_SCOPE_SHIFT, 0);
    field(keys ? "string_no_embed_flag" : "stringNoEmbedFlag", RSTRING_NOEMBED, 0);
    field(keys ? "string_embed_length_mask" : "stringEmbedLengthMask", RSTRING_EMBED_LEN_MASK, 0);
    field(keys ? "string_embed_length_shift" : "stringEmbedLengthShift", RSTRING_EMBED_LEN_SHIFT, 0);
    field(keys ? "array_embed_flag" : "arrayEmbedFlag", RARRAY_EMBED_FLAG, 0);
    field(keys ? "array_embed_length_mask" : "arrayEmbedLengthMask", RARRAY_EMBED_LEN_MASK, 0);
    field(keys ? "array_embed_length_shift" : "arrayEmbedLengthShift", RARRAY_EMBED_LEN_SHIFT, 0);
    field(keys ? "frame_magic_mask" : "frameMagicMask", MIRROR_FRAME_MAGIC_MASK, 0);
    field(keys ? "frame_magic_cfunc" : "frameMagicCFunction", MIRROR_FRAME_MAGIC_CFUNC, 0);
    field(keys ? "frame_flag_finish" : "frameFlagFinish", MIRROR_FRAME_FLAG_FINISH, 0);
    field(keys ? "imemo_iseq_flags" : "imemoISeqFlags", RUBY_T_IMEMO | MIRROR_IMEMO_ISEQ << RUBY_FL_USHIFT, 0);
    field(keys ? "imemo_method_entry_flags" : "imemoMethodEntryFlags", RUBY_T_IMEMO | MIRROR_IMEMO_MENT << RUBY_FL_USHIFT, 0);
    field(keys ? "imemo_flags_mask" : "imemoFlagsMask", RUBY_T_MASK | MIRROR_IMEMO_MASK << RUBY_FL_USHIFT, 0);
    field(keys ? "type_mask" : "typeMask", RUBY_T_MASK, 0);
    field(keys ? "type_string" : "typeString", RUBY_T_STRING, 0);
    field(keys ? "type_array" : "typeArray", RUBY_T_ARRAY, 0);
    field(keys ? "last_operator_id" : "lastOperatorID", MIRROR_LAST_OP_ID, 0);
    field(keys ? "id_entry_unit" : "idEntryUnit", MIRROR_ID_ENTRY_UNIT, 0);
    field(keys ? "id_entry_size" : "idEntrySize", MIRROR_ID_ENTRY_SIZE, 1);
    if (!keys) printf("        ),\n");
    return 0;
}
