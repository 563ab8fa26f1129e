// SPDX-License-Identifier: GPL-2.0
/*
 * The V8 walker's program, in an object of its own: the sampling program reaches it by
 * a tail call for a process in v8_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * process has no walk (yet).
 */
#include "sample_common.bpf.h"
#include "v8.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_v8_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_v8_walk *walk = v8_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_v8_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
