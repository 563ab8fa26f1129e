// SPDX-License-Identifier: GPL-2.0
/*
 * The Perl walker's program, in an object of its own: the sampling program reaches it by
 * a tail call for a process in perl_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * process has no walk (yet).
 */
#include "sample_common.bpf.h"
#include "perl.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_perl_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_perl_walk *walk = perl_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_perl_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
