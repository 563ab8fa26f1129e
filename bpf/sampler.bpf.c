// SPDX-License-Identifier: GPL-2.0
/*
 * tandem-sampler's BPF side: a perf_event program fired by one software
 * cpu-clock event per online CPU, and two raw tracepoints following exec and
 * exit. Everything goes into one ring buffer, submitted WITHOUT wake-up: the
 * loader drains it on a timer (a wake-up from this context stalls the
 * cpu-clock event on the kernels we run on). The one wake-up is the doorbell,
 * rung from exec: see `doorbell` below.
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
#include "sample_common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

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
    /* The walks run before the sample is built, once each: the records a sample refers to
     * go ahead of it, and the verifier checks each loop at one place only. */
    interpreter_tail_call(ctx, pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return emit_sample(ctx, unwound, &user);
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

/*
 * The doorbell. When nothing new runs, the loader drains seldom (Sampler.run: every
 * 750 ms, against 250 ms). A process exec'd then may be sampled and gone before that drain, and
 * /proc would no longer describe it: so the loader arms the doorbell before it sleeps
 * long, and the first exec rings it, once, with a wake-up from process context (the
 * exec tracepoint, not the sampling one). The loader then drains at its short interval
 * for a while. One byte of record; what wakes the loader is the record's arrival.
 */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} doorbell SEC(".maps");

/* Element 0: 1 while armed; the loader sets it through mmap, the ringing exec clears it. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} doorbell_armed SEC(".maps");

static __always_inline void ring_doorbell(void)
{
    __u32 zero = 0;
    __u64 *armed = bpf_map_lookup_elem(&doorbell_armed, &zero);
    /* The exchange lets one exec of many on other CPUs ring. */
    if (!armed || !*armed || !__sync_lock_test_and_set(armed, 0))
        return;
    __u8 ring = 1;
    bpf_ringbuf_output(&doorbell, &ring, sizeof(ring), BPF_RB_FORCE_WAKEUP);
}

/* Runs in the task after exec: current is the new image. */
SEC("raw_tp/sched_process_exec")
int tandem_exec(void *ctx)
{
    int result = emit_process_event(TANDEM_EVENT_EXEC);
    ring_doorbell();
    return result;
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
