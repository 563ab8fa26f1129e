/*
 * The records the BPF program writes into its ring buffer, shared by
 * sampler.bpf.c and the Swift loader (through the CTandemBPF module).
 *
 * Plain fixed-size C structs: the loader reads them in place, so the layout
 * is the contract. Only <linux/types.h> types, no kernel internals.
 */
#ifndef TANDEM_SAMPLER_H
#define TANDEM_SAMPLER_H

#include <linux/types.h>

/* perf_event_max_stack's default; deeper stacks are cut and flagged. */
#define TANDEM_MAX_FRAMES 127
#define TANDEM_COMM_LEN 16

enum tandem_event_kind {
    TANDEM_EVENT_SAMPLE = 1,
    TANDEM_EVENT_EXEC = 2,
    TANDEM_EVENT_EXIT = 3,
};

/* Indexes of the counters array (a mmap-able BPF array map of __u64). */
enum tandem_counter {
    /* perf_event program runs that produced a sample (idle excluded). */
    TANDEM_COUNTER_SAMPLES = 0,
    /* samples lost because bpf_ringbuf_reserve failed (ring buffer full). */
    TANDEM_COUNTER_SAMPLES_RINGBUF_FULL = 1,
    /* exec/exit events lost because the ring buffer was full. */
    TANDEM_COUNTER_EVENTS_RINGBUF_FULL = 2,
    /* samples whose kernel and user stacks could not be read at all. */
    TANDEM_COUNTER_STACK_ERRORS = 3,
    TANDEM_COUNTER_COUNT = 4,
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
    __u64 kernel_stack[TANDEM_MAX_FRAMES];
    __u64 user_stack[TANDEM_MAX_FRAMES];
};

/* exec and exit of a process (exit: the thread group leader's). */
struct tandem_process_event {
    struct tandem_event_header header;
};

#endif
