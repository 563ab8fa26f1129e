/*
 * The HotSpot JVM walker's structs, shared by the BPF program (hotspot.bpf.h), the sampler
 * (HotSpotLoading) and, through the wire records, the aggregator (HotSpotSymbolization).
 * docs/jvm.md describes the walk.
 *
 * The layouts are the sampler's own constants (Sources/HotSpotLayouts, generated from the
 * JDK's own vmStructs tables by scripts/hotspot-layouts.sh), one per JDK feature version,
 * copied into the hotspot_layouts map at load. The aggregator names a layout by its index;
 * it never sends an offset.
 */
#ifndef TANDEM_HOTSPOT_H
#define TANDEM_HOTSPOT_H

#include <linux/types.h>

/* Numbers reserved for the JVM (helper-interpreters table). */
#define TANDEM_HOTSPOT_STACK_KIND 3
#define TANDEM_EVENT_HOTSPOT_SAMPLE 7
#define TANDEM_EVENT_HOTSPOT_METHOD 8
#define TANDEM_COUNTER_HOTSPOT_FRAMES 22        /* Java frames walked */
#define TANDEM_COUNTER_HOTSPOT_METHODS 23       /* method records emitted */
#define TANDEM_COUNTER_HOTSPOT_STOPS 24         /* walks ended in code-cache code they could not step over */
#define TANDEM_COUNTER_HOTSPOT_RINGBUF_FULL 25  /* method records lost to a full ring buffer */

#define TANDEM_HOTSPOT_LAYOUTS 4
#define TANDEM_HOTSPOT_MAX_PROCESSES 4096
/* The code cache has 1 heap (not segmented) or 3 (non-nmethods, profiled, non-profiled). */
#define TANDEM_HOTSPOT_MAX_HEAPS 4
/* Segment-map hops to a blob's start: each hop goes back at most 254 segments (of 128
 * bytes in JDK 17), so 16 hops reach 500 KB into a blob. */
#define TANDEM_HOTSPOT_SEGMENT_HOPS 16
/* Java frames kept per sample (the native frames they replace are in the sample's stack). */
#define TANDEM_HOTSPOT_MAX_FRAMES 64
/* Bounds of a method record's copies. */
#define TANDEM_HOTSPOT_CONST_METHOD_BYTES 64
#define TANDEM_HOTSPOT_SYMBOL_BYTES 256
#define TANDEM_HOTSPOT_LINE_TABLE_BYTES 512
/* Bounds of a code record's copies (an nmethod's inlining scopes): 128 PcDescs of JDK 17,
 * their scopes data, and the first entries of its metadata array. */
#define TANDEM_HOTSPOT_PC_DESC_BYTES 2048
#define TANDEM_HOTSPOT_SCOPES_BYTES 2048
#define TANDEM_HOTSPOT_METADATA_ENTRIES 32

/* Field for field the Swift HotSpotLayout's walker part (Sources/HotSpotLayouts). */
struct tandem_hotspot_layout {
    __u16 feature_version;              /* 0: an empty slot */
    __u16 growable_array_length;        /* GrowableArrayBase::_len (int) */
    __u16 growable_array_data;          /* GrowableArray<E>::_data */
    __u16 code_heap_memory;             /* CodeHeap::_memory (VirtualSpace) */
    __u16 code_heap_segment_map;        /* CodeHeap::_segmap (VirtualSpace) */
    __u16 code_heap_log2_segment_size;  /* CodeHeap::_log2_segment_size (int) */
    __u16 virtual_space_low;            /* VirtualSpace::_low */
    __u16 virtual_space_high;           /* VirtualSpace::_high */
    __u16 heap_block_size;              /* sizeof(HeapBlock): the blob follows its block's header */
    __u16 code_blob_name;               /* CodeBlob::_name (const char *) */
    __u16 code_blob_frame_complete;     /* CodeBlob::_frame_complete_offset (int) */
    __u16 code_blob_frame_size;         /* CodeBlob::_frame_size (int, words) */
    __u16 code_blob_code_begin;         /* CodeBlob::_code_begin */
    __u16 compiled_method_method;       /* CompiledMethod::_method (Method *) */
    __u16 nmethod_compile_id;           /* nmethod::_compile_id (int) */
    __u16 method_const_method;          /* Method::_constMethod */
    __u16 const_method_constants;       /* ConstMethod::_constants */
    __u16 const_method_size_words;      /* ConstMethod::_constMethod_size (int, words) */
    __u16 const_method_code_size;       /* ConstMethod::_code_size (u2) */
    __u16 const_method_name_index;      /* ConstMethod::_name_index (u2) */
    __u16 const_method_size;            /* sizeof(ConstMethod): bytecode, then the line table */
    __u16 constant_pool_pool_holder;    /* ConstantPool::_pool_holder */
    __u16 constant_pool_source_file;    /* ConstantPool::_source_file_name_index (u2) */
    __u16 constant_pool_size;           /* sizeof(ConstantPool): the entries follow */
    __u16 klass_name;                   /* Klass::_name (Symbol *) */
    __u16 symbol_length;                /* Symbol::_length (u2) */
    __u16 symbol_body;                  /* Symbol::_body */
    __s8 interpreter_sender_sp;         /* interpreter frame slots, words from rbp */
    __s8 interpreter_method;
    __s8 interpreter_bcp;
    __u8 reserved;
    __u16 nmethod_metadata_offset;      /* nmethod::_metadata_offset (int, from the nmethod) */
    __u16 nmethod_scopes_pcs_offset;    /* nmethod::_scopes_pcs_offset (int): the PcDesc array */
    __u16 nmethod_dependencies_offset;  /* nmethod::_dependencies_offset (int): the PcDescs' end */
    __u16 compiled_method_scopes_data;  /* CompiledMethod::_scopes_data_begin (address) */
};

/* The value of hotspot_processes: the process's libjvm.so statics, as the sampler checked them. */
struct tandem_hotspot_process {
    __u64 code_cache_heaps;             /* &CodeCache::_heaps in the process */
    __u64 call_stub_return_address;     /* &StubRoutines::_call_stub_return_address */
    __u32 layout;                       /* index into hotspot_layouts */
    __u32 reserved;
};

/* tandem_hotspot_frame.kind */
enum tandem_hotspot_frame_kind {
    TANDEM_HOTSPOT_INTERPRETED = 1,     /* position: the bci */
    TANDEM_HOTSPOT_COMPILED = 2,        /* position: pc - code begin (C1 or C2 nmethod) */
    TANDEM_HOTSPOT_NATIVE_WRAPPER = 3,  /* a native method's JNI wrapper nmethod */
};

/*
 * One Java frame: the native frame at `slot` of the sample's user stack (a pc in the code
 * cache) is this method's. method: the Method * (identity, with fingerprint, of the method
 * record); code: the nmethod (0 for interpreted frames), whose code record (with
 * code_fingerprint, set when the records are emitted) names the methods inlined at the pc.
 */
struct tandem_hotspot_frame {
    __u64 method;
    __u64 code;
    __u32 fingerprint;
    __u32 position;
    __u16 slot;
    __u8 kind;                          /* enum tandem_hotspot_frame_kind */
    __u8 reserved;
    __u32 code_fingerprint;             /* 0: no code record (interpreted, or the nmethod unreadable) */
};

/* Appended to a sample of a JVM process (TANDEM_EVENT_HOTSPOT_SAMPLE). */
struct tandem_hotspot_walk {
    __u32 count;
    __u32 flags;                        /* enum tandem_user_flags of the native walk that found the frames */
    struct tandem_hotspot_frame frames[TANDEM_HOTSPOT_MAX_FRAMES];
};

/* The walker's per-CPU state: the walk, and the registers hotspot_step hands back. */
struct tandem_hotspot_scratch {
    struct tandem_hotspot_walk walk;
    __u64 r13;                          /* the leaf's r13 (the interpreter's bytecode pointer) */
    __u64 pc;                           /* the caller's registers after a step */
    __u64 sp;
    __u64 bp;
};

/* The key of hotspot_methods_sent (value: the stream generation it was sent in). */
struct tandem_hotspot_method_key {  /* also hotspot_codes_sent's: method is the nmethod */
    __u64 method;
    __u32 pid;
    __u32 fingerprint;
};

/* tandem_hotspot_method_event_fields.flags: copies that could not be read. */
enum tandem_hotspot_method_flags {
    TANDEM_HOTSPOT_CLASS_NAME_UNREADABLE = 1,
    TANDEM_HOTSPOT_METHOD_NAME_UNREADABLE = 2,
    TANDEM_HOTSPOT_SOURCE_FILE_UNREADABLE = 4,
    TANDEM_HOTSPOT_LINE_TABLE_UNREADABLE = 8,
};

/* The side records (TANDEM_EVENT_HOTSPOT_METHOD) say which they are at byte 38. */
enum tandem_hotspot_side_record {
    TANDEM_HOTSPOT_RECORD_METHOD = 0,
    TANDEM_HOTSPOT_RECORD_CODE = 1,
};

struct tandem_hotspot_method_event_fields {
    __u32 kind;
    __u32 pid;
    __u64 method;
    __u32 fingerprint;
    __u32 layout;
    __u32 flags;                        /* enum tandem_hotspot_method_flags */
    __u16 const_method_bytes;
    __u16 class_name_bytes;
    __u16 method_name_bytes;
    __u16 source_file_bytes;
    __u16 line_table_bytes;
    __u16 record;                       /* TANDEM_HOTSPOT_RECORD_METHOD */
};

/*
 * A method the walker saw for the first time in this stream (TANDEM_EVENT_HOTSPOT_METHOD):
 * raw copies, each from its first byte and bounded (a Symbol's copy is its header and at most
 * TANDEM_HOTSPOT_SYMBOL_BYTES of it; the line table's runs to the ConstMethod's end, at most
 * its bound); the aggregator parses them with the same layout.
 */
struct tandem_hotspot_method_event {
    struct tandem_hotspot_method_event_fields fields;
    __u8 const_method[TANDEM_HOTSPOT_CONST_METHOD_BYTES];
    __u8 class_name[TANDEM_HOTSPOT_SYMBOL_BYTES];
    __u8 method_name[TANDEM_HOTSPOT_SYMBOL_BYTES];
    __u8 source_file[TANDEM_HOTSPOT_SYMBOL_BYTES];
    __u8 line_table[TANDEM_HOTSPOT_LINE_TABLE_BYTES];
};

/* tandem_hotspot_code_event_fields.flags: copies cut at their bound or unreadable. */
enum tandem_hotspot_code_flags {
    TANDEM_HOTSPOT_PC_DESCS_CUT = 1,
    TANDEM_HOTSPOT_SCOPES_CUT = 2,
    TANDEM_HOTSPOT_METADATA_CUT = 4,
    TANDEM_HOTSPOT_CODE_UNREADABLE = 8,
};

struct tandem_hotspot_code_event_fields {
    __u32 kind;
    __u32 pid;
    __u64 code;                         /* the nmethod */
    __u32 fingerprint;                  /* the nmethod's (its compile id mixed with its address) */
    __u32 layout;
    __u32 flags;                        /* enum tandem_hotspot_code_flags */
    __u16 pc_desc_bytes;
    __u16 scopes_bytes;
    __u16 metadata_entries;
    __u16 reserved[2];
    __u16 record;                       /* TANDEM_HOTSPOT_RECORD_CODE, where the method record has it */
    __u64 method;                       /* the nmethod's own Method * and its fingerprint */
    __u32 method_fingerprint;
    __u32 reserved2;
};

/*
 * An nmethod a compiled frame of this stream named for the first time (kind
 * TANDEM_EVENT_HOTSPOT_METHOD, record TANDEM_HOTSPOT_RECORD_CODE): raw, bounded copies of its
 * PcDesc array, its scopes data and its metadata array (each Method * of it with its
 * fingerprint, 0 for other metadata); the aggregator decodes pc offset → PcDesc → scopes.
 */
struct tandem_hotspot_code_event {
    struct tandem_hotspot_code_event_fields fields;
    __u8 pc_descs[TANDEM_HOTSPOT_PC_DESC_BYTES];
    __u8 scopes[TANDEM_HOTSPOT_SCOPES_BYTES];
    __u64 metadata[TANDEM_HOTSPOT_METADATA_ENTRIES];
    __u32 metadata_fingerprints[TANDEM_HOTSPOT_METADATA_ENTRIES];
};

_Static_assert(__builtin_offsetof(struct tandem_hotspot_method_event_fields, record) == 38, "side record kind");
_Static_assert(__builtin_offsetof(struct tandem_hotspot_code_event_fields, record) == 38, "side record kind");
_Static_assert(sizeof(struct tandem_hotspot_frame) == 32, "frame size");

#endif
