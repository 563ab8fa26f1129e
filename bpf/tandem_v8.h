/*
 * V8 (Node.js) JavaScript frames (docs/v8.md): what the BPF walker, the sampler and the
 * aggregator share. Included at the end of tandem_sampler.h; the Swift side sees it through
 * the CTandemBPF module. Only <linux/types.h> types.
 *
 * The layouts (struct tandem_v8_layout, generated into tandem_v8_layout.h by
 * scripts/v8-layouts.sh) are the sampler's own constants, copied into the v8_layouts map
 * at load. The aggregator names a layout by its index; it never sends an offset.
 */
#ifndef TANDEM_V8_H
#define TANDEM_V8_H

#include <linux/types.h>
#include "tandem_v8_layout.h"

/* The walker's ring-buffer records (numbers tandem_interpreters.h gives V8). */
enum tandem_v8_event_kind {
    /* A sample of a V8 process: struct tandem_v8_sample_event. */
    TANDEM_EVENT_V8_SAMPLE = 9,
    /* A function or an optimized code object seen for the first time in the stream:
     * struct tandem_v8_function_event or struct tandem_v8_code_event (their `record` says which). */
    TANDEM_EVENT_V8_FUNCTION = 10,
};

/* The `record` field of the walker's side records (both event kind 10). */
enum tandem_v8_side_record {
    TANDEM_V8_RECORD_FUNCTION = 1,
    TANDEM_V8_RECORD_CODE = 2,
};

/* The walker's indexes of the counters array (tandem_interpreters.h gives V8 26-29). */
enum tandem_v8_counter {
    /* samples of a process whose V8 the walker follows, */
    TANDEM_COUNTER_V8_WALKS = 26,
    /* ... of which had at least one JavaScript frame, */
    TANDEM_COUNTER_V8_FRAMES_FOUND = 27,
    /* function records written, and function records lost to a full ring buffer. */
    TANDEM_COUNTER_V8_FUNCTION_RECORDS = 28,
    TANDEM_COUNTER_V8_FUNCTION_RINGBUF_FULL = 29,
};

/* JavaScript frames kept per sample, leaf first; deeper stacks keep their leaf side and are flagged. */
#define TANDEM_V8_MAX_FRAMES 64
/* Frame-pointer steps per walk (JavaScript, stub and C++ frames of node alike). */
#define TANDEM_V8_MAX_STEPS 160
/* Layout slots in the v8_layouts map. */
#define TANDEM_V8_MAX_LAYOUTS 4
/* Processes whose V8 the walker follows. */
#define TANDEM_V8_MAX_PROCESSES 4096
/* Bytes of a SharedFunctionInfo copied into a function record (every field the layout names is below). */
#define TANDEM_V8_SFI_BYTES 64
/* Slots of a ScopeInfo copied (its name slots follow its context locals: see docs/v8.md). */
#define TANDEM_V8_SCOPE_SLOTS 24
/* Bytes of a string object (header + characters) copied for a function name and for a script name. */
#define TANDEM_V8_NAME_BYTES 272
#define TANDEM_V8_SCRIPT_NAME_BYTES 528
/* Functions inlined into one optimized code object that its code record names (more are cut). */
#define TANDEM_V8_MAX_INLINED 32
/* Inlining positions (16 bytes each) of one code object copied into its code record. */
#define TANDEM_V8_MAX_INLINING_POSITIONS 64
/* Bytes of an optimized code object's source position table copied into its code record. */
#define TANDEM_V8_POSITION_TABLE_BYTES 4096
/* Bytes of a function's bytecode source position table copied into its function record. */
#define TANDEM_V8_BYTECODE_TABLE_BYTES 2048
/* Optimized code objects sent, per stream (an LRU set). */
#define TANDEM_V8_MAX_CODES_SENT 16384
/* An offset that is not known. */
#define TANDEM_V8_NO_OFFSET 0xffffffff

/* The value of v8_processes: the process's V8, as the sampler checked it. */
struct tandem_v8_process {
    __u32 layout;                       /* index into v8_layouts */
    __u32 reserved;
};

/* The key of v8_functions_sent: the sampler deletes one when it drops the function record. */
struct tandem_v8_function_key {
    __u64 sfi;
    __u32 pid;
    __u32 fingerprint;
};

/* tandem_v8_frame.kind: how the frame's function runs. */
enum tandem_v8_frame_kind {
    /* Ignition: offset is the bytecode offset. */
    TANDEM_V8_FRAME_INTERPRETED = 1,
    /* Sparkplug, Maglev or TurboFan code (code_kind says which): offset is pc - instruction start. */
    TANDEM_V8_FRAME_COMPILED = 2,
};

/* tandem_v8_frame.flags */
enum tandem_v8_frame_flags {
    /* The SharedFunctionInfo could not be read: no fingerprint, no function record. */
    TANDEM_V8_FRAME_FUNCTION_UNREADABLE = 1,
    /* A compiled frame whose pc lies outside its function's current code (replaced code,
     * or a leaf in a callee's prologue): offset unknown. */
    TANDEM_V8_FRAME_PC_OUTSIDE_CODE = 2,
    /* pc is the sampled pc (the frame is the innermost one), not a return address. */
    TANDEM_V8_FRAME_SAMPLED_PC = 4,
};

/*
 * One JavaScript frame. pc: the frame's pc as the native walk sees it (the sampled pc for the
 * innermost frame, else the return address into the frame), which is how the aggregator
 * finds the native frame it replaces.
 */
struct tandem_v8_frame {
    __u64 pc;
    __u64 sfi;                          /* the SharedFunctionInfo (tagged) */
    __u32 fingerprint;
    __u32 offset;                       /* see enum tandem_v8_frame_kind; TANDEM_V8_NO_OFFSET when unknown */
    __u8 kind;                          /* enum tandem_v8_frame_kind */
    __u8 code_kind;                     /* V8's CodeKind of the function's code */
    __u16 flags;                        /* enum tandem_v8_frame_flags */
    /* Optimized code (Maglev, TurboFan) with pc inside it: the fingerprint of its code record
     * (keyed by pid, pc - offset, this), which names the functions inlined into it; else 0. */
    __u32 code_fingerprint;
};

/* tandem_v8_walk.flags */
enum tandem_v8_walk_flags {
    /* More than TANDEM_V8_MAX_FRAMES frames, or the frame-pointer chain did not end at 0. */
    TANDEM_V8_WALK_TRUNCATED = 1,
    /* A read of a frame failed. */
    TANDEM_V8_WALK_READ_ERROR = 2,
};

struct tandem_v8_walk {
    __u32 count;
    __u32 flags;                        /* enum tandem_v8_walk_flags */
    struct tandem_v8_frame frames[TANDEM_V8_MAX_FRAMES];
};

/* A sample of a process whose V8 the walker follows: the sample, then its JavaScript frames. */
struct tandem_v8_sample_event {
    struct tandem_sample_event sample;
    struct tandem_v8_walk walk;
};

/* tandem_v8_function_event_fields.flags: which copies were cut at their bound or unreadable. */
enum tandem_v8_function_flags {
    TANDEM_V8_FUNCTION_NAME_CUT = 1,
    TANDEM_V8_FUNCTION_NAME_UNREADABLE = 2,
    TANDEM_V8_FUNCTION_SCRIPT_NAME_CUT = 4,
    TANDEM_V8_FUNCTION_SCRIPT_NAME_UNREADABLE = 8,
    /* name_or_scope_info is a ScopeInfo: the scope copy holds its slots, name the first string among them. */
    TANDEM_V8_FUNCTION_NAME_FROM_SCOPE = 16,
    /* The bytecode's source position table was longer than TANDEM_V8_BYTECODE_TABLE_BYTES. */
    TANDEM_V8_FUNCTION_TABLE_CUT = 32,
};

/*
 * A function the walker saw for the first time in this stream (TANDEM_EVENT_V8_FUNCTION):
 * raw copies of its SharedFunctionInfo, of its ScopeInfo's slots, of its name string and of its
 * script's name string, each from the object's first byte, and the data of its bytecode's
 * source position table, bounded; *_type: the instance
 * type the string's map gave (the aggregator decodes the characters with it).
 */
struct tandem_v8_function_event_fields {
    __u32 kind;
    __u32 pid;
    __u32 record;                       /* TANDEM_V8_RECORD_FUNCTION */
    __u32 layout;
    __u64 sfi;
    __u32 fingerprint;
    __u32 flags;                        /* enum tandem_v8_function_flags */
    __u16 sfi_bytes;
    __u16 scope_bytes;
    __u16 name_bytes;
    __u16 name_type;
    __u16 script_name_bytes;
    __u16 script_name_type;
    __u16 table_bytes;
    __u16 reserved;
};

/* The copies follow the fields, each at its full bound (the sampler reads them by offset). */
struct tandem_v8_function_event {
    struct tandem_v8_function_event_fields fields;
    __u8 sfi[TANDEM_V8_SFI_BYTES];
    __u8 scope[8 * TANDEM_V8_SCOPE_SLOTS];
    __u8 name[TANDEM_V8_NAME_BYTES];
    __u8 script_name[TANDEM_V8_SCRIPT_NAME_BYTES];
    __u8 table[TANDEM_V8_BYTECODE_TABLE_BYTES];
};

/* The key of v8_codes_sent: the sampler deletes one when it drops the code record. */
struct tandem_v8_code_key {
    __u64 instruction_start;
    __u32 pid;
    __u32 fingerprint;
};

/* tandem_v8_code_event_fields.flags: what was cut at its bound or unreadable. */
enum tandem_v8_code_flags {
    TANDEM_V8_CODE_DEOPTIMIZATION_DATA_UNREADABLE = 1,
    TANDEM_V8_CODE_INLINED_CUT = 2,
    TANDEM_V8_CODE_POSITIONS_CUT = 4,
    TANDEM_V8_CODE_POSITIONS_UNREADABLE = 8,
    TANDEM_V8_CODE_TABLE_CUT = 16,
    TANDEM_V8_CODE_TABLE_UNREADABLE = 32,
    /* An inlined function's SharedFunctionInfo could not be read (its entry's sfi is 0). */
    TANDEM_V8_CODE_FUNCTION_UNREADABLE = 64,
};

/* A function inlined into a code object: the key of its function record. */
struct tandem_v8_inlined_function {
    __u64 sfi;
    __u32 fingerprint;
    __u32 reserved;
};

/*
 * An optimized code object the walker saw for the first time in this stream
 * (TANDEM_EVENT_V8_FUNCTION, record TANDEM_V8_RECORD_CODE): what names the functions
 * TurboFan or Maglev inlined into it. functions: the first `inlined` entries of its
 * deoptimization data's literal array (each function's record is sent before this one);
 * positions: the data of its inlining-positions ByteArray (16 bytes an inlining: the call
 * site's SourcePosition, then the inlined function's index in functions); table: the data
 * of its source position table. Raw copies, bounded; the aggregator decodes them.
 */
struct tandem_v8_code_event_fields {
    __u32 kind;
    __u32 pid;
    __u32 record;                       /* TANDEM_V8_RECORD_CODE */
    __u32 layout;
    __u64 code;                         /* the Code object (tagged) */
    __u64 instruction_start;
    __u32 fingerprint;
    __u32 instruction_size;
    __u32 flags;                        /* enum tandem_v8_code_flags */
    __u16 inlined;                      /* entries of functions */
    __u16 positions_bytes;
    __u16 table_bytes;
    __u8 code_kind;
    __u8 reserved;
    __u32 reserved2;
};

struct tandem_v8_code_event {
    struct tandem_v8_code_event_fields fields;
    struct tandem_v8_inlined_function functions[TANDEM_V8_MAX_INLINED];
    __u8 positions[16 * TANDEM_V8_MAX_INLINING_POSITIONS];
    __u8 table[TANDEM_V8_POSITION_TABLE_BYTES];
};

#endif
