// SPDX-License-Identifier: GPL-2.0
/*
 * The HotSpot JVM walker's program, in an object of its own: the sampling program reaches it
 * by a tail call for a process in hotspot_processes (interpreters.bpf.h). Its maps are the
 * sampling object's, shared by descriptor when it is loaded.
 *
 * Java frames are found while the native stack is unwound: this object's copy of the table
 * unwinder (unwind_tables.bpf.h) is compiled with the TANDEM_UNWIND_UNTABLED_STEP hook, which
 * steps over code-cache frames (hotspot_unwind.bpf.h). Only JVM samples run it; the sampling
 * program's unwinder, and every other walker's, has no hook.
 */
#include <linux/types.h>

struct unwind_state;
static inline __attribute__((always_inline)) int hotspot_untabled_step(struct unwind_state *state, __u32 slot,
                                                                       __u64 lookup);
#define TANDEM_UNWIND_UNTABLED_STEP hotspot_untabled_step

#include "sample_common.bpf.h"
#include "hotspot.bpf.h"
#include "hotspot_unwind.bpf.h"
#include "hotspot_records.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_jvm_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    int jvm = hotspot_begin(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return jvm ? emit_hotspot_sample(ctx, pid, unwound, &user) : emit_sample(ctx, unwound, &user);
}
