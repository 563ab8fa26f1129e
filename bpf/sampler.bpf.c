// SPDX-License-Identifier: GPL-2.0
/*
 * tandem-sampler's BPF side: a perf_event program fired by one software
 * cpu-clock event per online CPU, and two raw tracepoints following exec and
 * exit. Everything goes into one ring buffer, submitted WITHOUT wake-up: the
 * loader drains it on a timer (a wake-up from this context stalls the
 * cpu-clock event on the kernels we run on).
 *
 * Deliberately dumb: only stable helpers, and one kernel struct here: the
 * user registers the kernel saved on entry (struct pt_regs), read at the layout of
 * the UAPI <asm/ptrace.h> the build host has. That layout, its field names (rip,
 * rsp, rbp, cs) and the unwinder's rules (docs/unwind-tables.md) are x86-64's, so
 * this program supports x86-64 only: tandem-bpf-embed defines __TARGET_ARCH_<arch>
 * from the build host (libbpf's convention), and any other architecture stops here.
 * (The optional interpreter walkers, interpreters.bpf.h, read one more field: the task's
 * fs base, by CO-RE.)
 */
#if !defined(__TARGET_ARCH_x86)
#error "tandem's BPF program supports x86-64 only: it reads the x86-64 struct pt_regs and unwinds with x86-64 rules"
#endif
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include "tandem_sampler.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 * 1024 * 1024); /* resized by the loader */
} events SEC(".maps");

/* Counters the loader reads through mmap, without a syscall or capability. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, TANDEM_COUNTER_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 index)
{
    __u64 *value = bpf_map_lookup_elem(&counters, &index);
    if (value)
        __sync_fetch_and_add(value, 1);
}

#include "unwind_tables.bpf.h"

static __always_inline void fill_header(struct tandem_event_header *header, __u32 kind)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    header->kind = kind;
    header->cpu = bpf_get_smp_processor_id();
    header->time = bpf_ktime_get_ns();
    header->pid = pid_tgid >> 32;
    header->tid = (__u32)pid_tgid;
    bpf_get_current_comm(header->comm, sizeof(header->comm));
}

/* Fills a reserved sample record: header, kernel stack, user stack (walked already when `unwound`). */
static __always_inline void fill_sample(void *ctx, struct tandem_sample_event *event, __u32 kind,
                                        int unwound, struct unwind_result *user)
{
    fill_header(&event->header, kind);
    event->kernel_stack_bytes = bpf_get_stack(ctx, event->kernel_stack, sizeof(event->kernel_stack), 0);
    event->user_flags = 0;
    event->reserved = 0;
    if (!unwound || !copy_unwound_stack(event, user))
        event->user_stack_bytes = bpf_get_stack(ctx, event->user_stack, sizeof(event->user_stack),
                                                BPF_F_USER_STACK);
    if (event->kernel_stack_bytes <= 0 && event->user_stack_bytes <= 0)
        count(TANDEM_COUNTER_STACK_ERRORS);
}

#include "interpreters.bpf.h"
#include "offcpu.bpf.h"

SEC("perf_event")
int tandem_sample(void *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    /* The idle task: not CPU time anybody spent. */
    if ((__u32)pid_tgid == 0)
        return 0;
    count(TANDEM_COUNTER_SAMPLES);
    __u32 pid = pid_tgid >> 32;

    /* The walks run before the sample is reserved, once each: the code records a sample
     * refers to go ahead of it, and the verifier checks each loop at one place only. */
    struct interpreter_walk walk = interpreter_walk(pid, (__u32)pid_tgid);
    struct unwind_result user = {};
    /* CPython's -X perf trampolines are stepped over in its processes only. */
    int unwound = unwind_user_stack(pid, walk.kind == TANDEM_EVENT_CPYTHON_SAMPLE, &user);
    if (walk.kind)
        return emit_interpreter_sample(ctx, walk, unwound, &user);

    struct tandem_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, event, TANDEM_EVENT_SAMPLE, unwound, &user);
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}

static __always_inline int emit_process_event(__u32 kind)
{
    struct tandem_process_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_EVENTS_RINGBUF_FULL);
        return 0;
    }
    fill_header(&event->header, kind);
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}

/* Runs in the task after exec: current is the new image. */
SEC("raw_tp/sched_process_exec")
int tandem_exec(void *ctx)
{
    return emit_process_event(TANDEM_EVENT_EXEC);
}

/* Runs for every exiting thread; only the thread group leader ends the process. */
SEC("raw_tp/sched_process_exit")
int tandem_exit(void *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    offcpu_forget((__u32)pid_tgid);
    if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32))
        return 0;
    return emit_process_event(TANDEM_EVENT_EXIT);
}
