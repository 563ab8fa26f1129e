// SPDX-License-Identifier: GPL-2.0
/*
 * The BEAM walker's program, in an object of its own: the sampling program reaches it by a
 * tail call for a process in beam_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * walk found no Erlang frame (the leaf is C code). Sources/BEAMLoading writes beam_processes
 * for the VMs it checked (docs/beam.md).
 */
#include "sample_common.bpf.h"
#include "beam.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_beam_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_beam_walk *walk = beam_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk && walk->count > 0 ? emit_beam_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
