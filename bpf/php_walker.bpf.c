// SPDX-License-Identifier: GPL-2.0
/*
 * The PHP walker's program, in an object of its own: the sampling program reaches it by a
 * tail call for a process in php_processes (interpreters.bpf.h). Its maps are the sampling
 * object's, shared by descriptor when it is loaded; its sample is the plain one when the
 * process has no walk (yet).
 *
 * This object's copy of the table unwinder (unwind_tables.bpf.h) is compiled with the
 * TANDEM_UNWIND_UNTABLED_STEP hook, which steps from opcache's JIT code to execute_ex
 * (php_unwind.bpf.h); the sampling program's unwinder has no hook.
 */
#include <linux/types.h>

struct unwind_state;
static inline __attribute__((always_inline)) int php_untabled_step(struct unwind_state *state, __u32 slot,
                                                                   __u64 lookup);
#define TANDEM_UNWIND_UNTABLED_STEP php_untabled_step

#include "sample_common.bpf.h"
#include "php.bpf.h"
#include "php_unwind.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("perf_event")
int tandem_php_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_php_walk *walk = php_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_php_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}
