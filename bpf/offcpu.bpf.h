/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Off-CPU time (optional: the loader leaves the program unloaded unless a threshold is
 * set). One raw tracepoint on the scheduler's switch does both halves, because the
 * kernels tandem runs on may have neither kprobes nor BPF trampolines:
 *   - the thread going off the CPU is still `current` there: when chosen (with the
 *     configured probability), its stacks are walked with the on-CPU sample's unwinders,
 *     which need its own context to read its user memory, into a pending record;
 *   - when the scheduler later switches to a thread that has a pending record, the
 *     record goes out with the time the thread was away. Nothing of the thread ran in
 *     between, so the stacks are those it waited with.
 * Pending records are allocated as needed (no preallocation) and bounded; a switch that
 * finds the map full is counted, not recorded.
 */
#ifndef TANDEM_OFFCPU_BPF_H
#define TANDEM_OFFCPU_BPF_H

/* Threads off the CPU at once whose switch was chosen: about 2 KiB each while pending. */
#define TANDEM_OFFCPU_MAX_PENDING 4096

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, TANDEM_OFFCPU_MAX_PENDING);
    __type(key, __u32); /* tid */
    __type(value, struct tandem_offcpu_event);
} offcpu_pending SEC(".maps");

/* The blank record a chosen switch starts from (map values are too large for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tandem_offcpu_event);
} offcpu_blank SEC(".maps");

/* [0]: a switch is chosen when bpf_get_prandom_u32() < [0]; 0xffffffff chooses all. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} offcpu_threshold SEC(".maps");

/* The fields read from the threads switched from and to; CO-RE finds them. */
struct task_struct___tandem_offcpu {
    unsigned int flags;
    int pid;
} __attribute__((preserve_access_index));

/* task_struct.flags: the thread is exiting (set before sched_process_exit). */
#define TANDEM_PF_EXITING 0x00000004

static __always_inline void offcpu_forget(__u32 tid)
{
    bpf_map_delete_elem(&offcpu_pending, &tid);
}

/* sched_switch(preempt, prev, next, prev_state): runs in `prev`, the current task. */
SEC("raw_tp/sched_switch")
int tandem_switch(struct bpf_raw_tracepoint_args *ctx)
{
    /* The thread switched to: its recorded wait goes out. */
    struct task_struct___tandem_offcpu *next = (void *)ctx->args[2];
    __u32 next_tid = (__u32)BPF_CORE_READ(next, pid);
    struct tandem_offcpu_event *waited = bpf_map_lookup_elem(&offcpu_pending, &next_tid);
    if (waited) {
        __u64 now = bpf_ktime_get_ns();
        waited->off_cpu_ns = now - waited->sample.header.time;
        waited->sample.header.time = now;
        count(TANDEM_COUNTER_OFFCPU_SAMPLES);
        if (bpf_ringbuf_output(&events, waited, sizeof(*waited), BPF_RB_NO_WAKEUP))
            count(TANDEM_COUNTER_OFFCPU_RINGBUF_FULL);
        offcpu_forget(next_tid);
    }

    /* The thread going off the CPU, when chosen. */
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid;
    if (tid == 0)
        return 0;
    /* Not an exiting thread: its last switch out never comes back, and sched_process_exit,
     * which forgets its record, runs before it; each exit would leave a record in the map
     * until the map filled (then every switch was lost), or until a new thread took the tid
     * and went out with the dead one's stacks and time. */
    struct task_struct___tandem_offcpu *prev = (void *)ctx->args[1];
    if (BPF_CORE_READ(prev, flags) & TANDEM_PF_EXITING)
        return 0;
    __u32 zero = 0;
    __u32 *threshold = bpf_map_lookup_elem(&offcpu_threshold, &zero);
    if (!threshold || *threshold == 0)
        return 0;
    if (*threshold != 0xffffffff && bpf_get_prandom_u32() >= *threshold)
        return 0;
    struct tandem_offcpu_event *blank = bpf_map_lookup_elem(&offcpu_blank, &zero);
    if (!blank)
        return 0;
    if (bpf_map_update_elem(&offcpu_pending, &tid, blank, BPF_ANY)) {
        count(TANDEM_COUNTER_OFFCPU_PENDING_FULL);
        return 0;
    }
    struct tandem_offcpu_event *event = bpf_map_lookup_elem(&offcpu_pending, &tid);
    if (!event)
        return 0;
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid_tgid >> 32, 0, &user);
    fill_sample(ctx, &event->sample, TANDEM_EVENT_OFFCPU_SAMPLE, unwound, &user);
    /* header.time: when it went off the CPU, until the record goes out. Stamped after the
     * walks, which run on the thread's own CPU time (the live tests measured a few
     * microseconds per switch counted as waiting when it was stamped before them). */
    event->sample.header.time = bpf_ktime_get_ns();
    count(TANDEM_COUNTER_OFFCPU_SWITCHES);
    return 0;
}

#endif
