/*
 * The records the BPF program writes into its ring buffer, shared by
 * sampler.bpf.c and the Swift loader (through the CTandemBPF module).
 *
 * Plain C structs: the loader reads them in place, so the layout is the
 * contract. Each record is its struct whole, but for the plain sample, which is
 * cut to its stacks' length (TANDEM_EVENT_SAMPLE). Only <linux/types.h> types,
 * no kernel internals.
 */
#ifndef TANDEM_SAMPLER_H
#define TANDEM_SAMPLER_H

#include <linux/types.h>

/* perf_event_max_stack's default; deeper stacks are cut and flagged. */
#define TANDEM_MAX_FRAMES 127
#define TANDEM_COMM_LEN 16

enum tandem_event_kind {
    /* A plain sample, packed: struct tandem_sample_event up to kernel_stack, then the kernel
     * stack's words (kernel_stack_bytes of them, none when negative), then the user stack's
     * words right after them; the record ends there. The walkers' samples and off-CPU samples
     * embed the struct whole. */
    TANDEM_EVENT_SAMPLE = 1,
    TANDEM_EVENT_EXEC = 2,
    TANDEM_EVENT_EXIT = 3,
    /* 4, 5 and 7-63: the interpreter walkers' (tandem_interpreters.h). */
    /* A thread back on a CPU after a recorded switch out: struct tandem_offcpu_event. */
    TANDEM_EVENT_OFFCPU_SAMPLE = 6,
};

/* Indexes of the counters array (a mmap-able BPF array map of __u64). */
enum tandem_counter {
    /* perf_event program runs that produced a sample (idle excluded). */
    TANDEM_COUNTER_SAMPLES = 0,
    /* samples lost because the ring buffer was full. */
    TANDEM_COUNTER_SAMPLES_RINGBUF_FULL = 1,
    /* exec/exit events lost because the ring buffer was full. */
    TANDEM_COUNTER_EVENTS_RINGBUF_FULL = 2,
    /* samples whose kernel and user stacks could not be read at all. */
    TANDEM_COUNTER_STACK_ERRORS = 3,
    /* user stacks walked with unwind tables (the process had some loaded). */
    TANDEM_COUNTER_UNWIND_STACKS = 4,
    /* ... of which ended at an end-of-stack row (the thread's root). */
    TANDEM_COUNTER_UNWIND_ROOT = 5,
    /* ... of which stopped early (unsupported row, unreadable memory, bad frame, depth). */
    TANDEM_COUNTER_UNWIND_TRUNCATED = 6,
    /* frames found through a table row (the others: frame pointers). */
    TANDEM_COUNTER_UNWIND_TABLE_FRAMES = 7,
    /* frames found through the rbp chain by the table unwinder (no table covered the pc). */
    TANDEM_COUNTER_UNWIND_FP_FRAMES = 8,
    /* Why table walks stopped early: */
    TANDEM_COUNTER_UNWIND_STOP_UNSUPPORTED = 9,   /* an unsupported row */
    TANDEM_COUNTER_UNWIND_STOP_READ = 10,         /* return address or saved rbp unreadable */
    TANDEM_COUNTER_UNWIND_STOP_FRAME_POINTER = 11,/* no table and no usable rbp chain */
    TANDEM_COUNTER_UNWIND_STOP_STACK_ORDER = 12,  /* the caller's frame was not above */
    TANDEM_COUNTER_UNWIND_STOP_DEPTH = 13,        /* more than TANDEM_MAX_FRAMES frames */
    /* 14-17 and 22-63: the interpreter walkers' (tandem_interpreters.h). */
    /* Off-CPU (bpf/offcpu.bpf.h): switches out recorded (chosen with the threshold), */
    TANDEM_COUNTER_OFFCPU_SWITCHES = 18,
    /* ... lost because the pending map was full; */
    TANDEM_COUNTER_OFFCPU_PENDING_FULL = 19,
    /* off-CPU samples (a recorded thread ran again), and those lost to a full ring buffer. */
    TANDEM_COUNTER_OFFCPU_SAMPLES = 20,
    TANDEM_COUNTER_OFFCPU_RINGBUF_FULL = 21,
    TANDEM_COUNTER_COUNT = 64,
};

/* tandem_sample_event.user_flags */
enum tandem_user_flags {
    /* The user stack was walked with unwind tables. */
    TANDEM_USER_UNWOUND_WITH_TABLES = 1,
    /* The walk stopped before the thread's root. */
    TANDEM_USER_TRUNCATED = 2,
    /* The walk ended at an end-of-stack row. */
    TANDEM_USER_REACHED_ROOT = 4,
};

/* Common prefix of every record. */
struct tandem_event_header {
    __u32 kind;          /* enum tandem_event_kind */
    __u32 cpu;
    __u64 time;          /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
    __u32 pid;           /* thread group id */
    __u32 tid;
    char comm[TANDEM_COMM_LEN];
};

struct tandem_sample_event {
    struct tandem_event_header header;
    /* bpf_get_stack results: bytes written, or a negative errno. */
    __s32 kernel_stack_bytes;
    __s32 user_stack_bytes;
    __u32 user_flags;    /* enum tandem_user_flags; before the stacks, read per record: 2 KiB in it was a cold line */
    __u32 reserved;
    __u64 kernel_stack[TANDEM_MAX_FRAMES];
    __u64 user_stack[TANDEM_MAX_FRAMES];
};

/* An off-CPU sample: the thread's stacks when it ran again, and how long it was off the CPU. */
struct tandem_offcpu_event {
    struct tandem_sample_event sample;
    __u64 off_cpu_ns;
};

/* exec and exit of a process (exit: the thread group leader's). */
struct tandem_process_event {
    struct tandem_event_header header;
};

/* The optional parts' structs: the table unwinder's maps, and the records that extend the sample. */
#include "tandem_unwind.h"
#include "tandem_interpreters.h"

#endif
