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

/* Writes the user stack to `words` (room for TANDEM_MAX_FRAMES): the table walk's frames when
 * `unwound`, else bpf_get_stack's frame-pointer walk. Returns the bytes written or a negative
 * errno, and sets `flags` (enum tandem_user_flags). */
static __always_inline long user_stack(void *ctx, __u64 *words, int unwound, struct unwind_result *user,
                                       __u32 *flags)
{
    __u32 copied = unwound ? copy_unwound_stack(words, user) : 0;
    if (copied) {
        *flags = user->flags;
        return copied;
    }
    *flags = 0;
    return bpf_get_stack(ctx, words, TANDEM_MAX_FRAMES * sizeof(__u64), BPF_F_USER_STACK);
}

/* Bytes of a stack array a bpf_get_stack result fills: 0 for an error. */
static __always_inline __u32 stack_bytes(long result)
{
    if (result <= 0)
        return 0;
    return result > TANDEM_MAX_FRAMES * sizeof(__u64) ? TANDEM_MAX_FRAMES * sizeof(__u64) : result;
}

/* Fills a sample: header, kernel stack, user stack (walked already when `unwound`). The user
 * words go to the user_stack array, or, when `packed` (TANDEM_EVENT_SAMPLE), right after the
 * kernel's words: both arrays together have room for both. */
static __always_inline void fill_stacks(void *ctx, struct tandem_sample_event *event, __u32 kind,
                                        int unwound, struct unwind_result *user, int packed)
{
    fill_header(&event->header, kind);
    event->kernel_stack_bytes = bpf_get_stack(ctx, event->kernel_stack, sizeof(event->kernel_stack), 0);
    event->reserved = 0;
    __u64 *words = packed ? (__u64 *)((char *)event->kernel_stack + stack_bytes(event->kernel_stack_bytes))
                          : event->user_stack;
    event->user_stack_bytes = user_stack(ctx, words, unwound, user, &event->user_flags);
    if (event->kernel_stack_bytes <= 0 && event->user_stack_bytes <= 0)
        count(TANDEM_COUNTER_STACK_ERRORS);
}

/* Fills a reserved sample record of the fixed layout (a walker's sample, an off-CPU sample). */
static __always_inline void fill_sample(void *ctx, struct tandem_sample_event *event, __u32 kind,
                                        int unwound, struct unwind_result *user)
{
    fill_stacks(ctx, event, kind, unwound, user, 0);
}

/* Where a plain sample is built before it goes into the ring buffer. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tandem_sample_event);
} sample_scratch SEC(".maps");

/*
 * A plain sample, packed (TANDEM_EVENT_SAMPLE in tandem_sampler.h): the header, the kernel
 * stack's words, then the user stack's words right after them. Built in the per-CPU scratch
 * and copied into the ring buffer at its length: a few hundred bytes, not the 2 KiB of the
 * fixed layout, so that the sampler, which reads the records long after another CPU wrote
 * them, finds consecutive samples in consecutive cache lines.
 */
static __always_inline int emit_sample(void *ctx, int unwound, struct unwind_result *user)
{
    __u32 zero = 0;
    struct tandem_sample_event *event = bpf_map_lookup_elem(&sample_scratch, &zero);
    /* Never taken (a one-entry per-CPU array, a size of at most the struct's): there for the
     * verifier, and counted as lost, so that collected = sent + dropped holds regardless. */
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_stacks(ctx, event, TANDEM_EVENT_SAMPLE, unwound, user, 1);
    __u32 size = __builtin_offsetof(struct tandem_sample_event, kernel_stack)
        + stack_bytes(event->kernel_stack_bytes) + stack_bytes(event->user_stack_bytes);
    if (size > sizeof(*event)) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    if (bpf_ringbuf_output(&events, event, size, BPF_RB_NO_WAKEUP))
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
    return 0;
}
