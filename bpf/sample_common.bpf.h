/*
 * What every tandem BPF program shares: the ring buffer and counters, the table unwinder,
 * and the sample record's filling. The sampling program (sampler.bpf.c) and each
 * interpreter walker's program (*_walker.bpf.c) include it; the walkers' objects are loaded
 * apart and share these maps by descriptor (InterpreterLoading's WalkerPrograms). Included
 * once per object.
 */
#if !defined(__TARGET_ARCH_x86)
#error "tandem's BPF program supports x86-64 only: it reads the x86-64 struct pt_regs and unwinds with x86-64 rules"
#endif
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include "tandem_sampler.h"

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

/* A plain sample: the stacks in a reserved record (the user stack walked already when `unwound`). */
static __always_inline int emit_sample(void *ctx, int unwound, struct unwind_result *user)
{
    struct tandem_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, event, TANDEM_EVENT_SAMPLE, unwound, user);
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
