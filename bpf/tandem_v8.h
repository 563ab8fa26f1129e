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
    /* A function seen for the first time in the stream: struct tandem_v8_function_event. */
    TANDEM_EVENT_V8_FUNCTION = 10,
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
    __u32 reserved;
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
};

/*
 * A function the walker saw for the first time in this stream (TANDEM_EVENT_V8_FUNCTION):
 * raw copies of its SharedFunctionInfo, of its ScopeInfo's slots, of its name string and of its
 * script's name string, each from the object's first byte, bounded; *_type: the instance
 * type the string's map gave (the aggregator decodes the characters with it).
 */
struct tandem_v8_function_event_fields {
    __u32 kind;
    __u32 pid;
    __u64 sfi;
    __u32 fingerprint;
    __u32 layout;
    __u32 flags;                        /* enum tandem_v8_function_flags */
    __u16 sfi_bytes;
    __u16 scope_bytes;
    __u16 name_bytes;
    __u16 name_type;
    __u16 script_name_bytes;
    __u16 script_name_type;
};

/* The copies follow the fields, each at its full bound (the sampler reads them by offset). */
struct tandem_v8_function_event {
    struct tandem_v8_function_event_fields fields;
    __u8 sfi[TANDEM_V8_SFI_BYTES];
    __u8 scope[8 * TANDEM_V8_SCOPE_SLOTS];
    __u8 name[TANDEM_V8_NAME_BYTES];
    __u8 script_name[TANDEM_V8_SCRIPT_NAME_BYTES];
};

#endif
