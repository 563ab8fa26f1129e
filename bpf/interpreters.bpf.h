/*
 * Every interpreter walker behind one call for the sampling program: a runtime adds its
 * header and its lines here, never in sampler.bpf.c. A process is in at most one
 * walker's map; one that is in none costs one map lookup per runtime.
 */
#include "cpython.bpf.h"
#include "hotspot.bpf.h"

/* Which walker took the sample (its sample event kind; 0: none) and its walk. */
struct interpreter_walk {
    __u32 kind;
    void *walk;
};

static __always_inline struct interpreter_walk interpreter_walk(__u32 pid, __u32 tid)
{
    struct interpreter_walk found = { .kind = TANDEM_EVENT_CPYTHON_SAMPLE, .walk = cpython_walk(pid, tid) };
    if (found.walk)
        return found;
    /* The JVM's Java frames are found by the table unwinder's walk (hotspot_unwind.bpf.h). */
    found.kind = TANDEM_EVENT_HOTSPOT_SAMPLE;
    found.walk = bpf_map_lookup_elem(&hotspot_processes, &pid);
    if (found.walk)
        return found;
    found.kind = 0;
    return found;
}

/* Reserves, fills and submits the walker's sample record. */
static __always_inline int emit_interpreter_sample(void *ctx, struct interpreter_walk found, int unwound,
                                                   struct unwind_result *user)
{
    if (found.kind == TANDEM_EVENT_CPYTHON_SAMPLE)
        return emit_cpython_sample(ctx, found.walk, unwound, user);
    if (found.kind == TANDEM_EVENT_HOTSPOT_SAMPLE)
        return emit_hotspot_sample(ctx, bpf_get_current_pid_tgid() >> 32, unwound, user);
    return 0;
}
