// SPDX-License-Identifier: GPL-2.0
/*
 * The CPython walker's program, in an object of its own: the sampling program reaches it by
 * a tail call for a process in cpython_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * process has no walk (yet).
 */
#include "sample_common.bpf.h"
#include "cpython.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_cpython_sample(void *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 pid = pid_tgid >> 32;
    struct tandem_cpython_walk *walk = cpython_walk(pid, (__u32)pid_tgid);
    struct unwind_result user = {};
    /* CPython's -X perf trampolines are stepped over in its processes only. */
    int unwound = unwind_user_stack(pid, 1, &user);
    return walk ? emit_cpython_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
