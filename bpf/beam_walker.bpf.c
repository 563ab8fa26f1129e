// SPDX-License-Identifier: GPL-2.0
/*
 * The BEAM walker's program, in an object of its own: the sampling program reaches it by a
 * tail call for a process in beam_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * walk found no Erlang frame. Sources/BEAMLoading writes beam_processes for the VMs it
 * checked (docs/beam.md).
 *
 * This object's copy of the table unwinder (unwind_tables.bpf.h) is compiled with the
 * TANDEM_UNWIND_UNTABLED_STEP hook, which notes where the native walk of a C leaf (a BIF, the
 * garbage collector) meets the JIT code that called it; the walk then finds that sample's
 * Erlang callers. Only BEAM samples run it.
 */
#include <linux/types.h>

struct unwind_state;
static inline __attribute__((always_inline)) int beam_untabled_step(struct unwind_state *state, __u32 slot,
                                                                    __u64 lookup);
#define TANDEM_UNWIND_UNTABLED_STEP beam_untabled_step

#include "sample_common.bpf.h"
#include "beam.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_beam_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    /* The native walk first: for a C leaf it finds where the JIT code called into C. */
    beam_arm_boundary(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    struct tandem_beam_walk *walk = beam_walk(pid);
    return walk && walk->count > 0 ? emit_beam_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
