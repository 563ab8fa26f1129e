/*
 * Every interpreter walker behind one call for the sampling program: a runtime adds its
 * header, its program and its lines here, never in sampler.bpf.c.
 *
 * Each walker runs in a perf_event program of its own, which the sampling program reaches
 * by a tail call for a process in that walker's map: the verifier checks each program
 * apart, each within its own million instructions (the walkers, each inlined with the
 * table unwinder, would not fit in one), and a sample pays only its own runtime's walk.
 * A process is in at most one walker's map; one in none costs one lookup per runtime.
 */
#include "cpython.bpf.h"
#include "perl.bpf.h"
#include "ruby.bpf.h"
#include "v8.bpf.h"

/* Indexes of interpreter_programs. */
enum tandem_runtime {
    TANDEM_RUNTIME_CPYTHON = 0,
    TANDEM_RUNTIME_PERL = 1,
    TANDEM_RUNTIME_RUBY = 2,
    TANDEM_RUNTIME_V8 = 3,
    TANDEM_RUNTIMES = 4,
};

/* The sample of a process a walker follows: its frames, with the user stack walked as for
 * any process and the kernel stack, in one record; without a walk, a plain sample. */
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

SEC("perf_event")
int tandem_perl_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_perl_walk *walk = perl_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_perl_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}

SEC("perf_event")
int tandem_ruby_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_ruby_walk *walk = ruby_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_ruby_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}

SEC("perf_event")
int tandem_v8_sample(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct tandem_v8_walk *walk = v8_walk(pid);
    struct unwind_result user = {};
    int unwound = unwind_user_stack(pid, 0, &user);
    return walk ? emit_v8_sample(ctx, walk, unwound, &user) : emit_sample(ctx, unwound, &user);
}

/* Filled by libbpf as it loads the object. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, TANDEM_RUNTIMES);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} interpreter_programs SEC(".maps") = {
    .values = {
        [TANDEM_RUNTIME_CPYTHON] = (void *)&tandem_cpython_sample,
        [TANDEM_RUNTIME_PERL] = (void *)&tandem_perl_sample,
        [TANDEM_RUNTIME_RUBY] = (void *)&tandem_ruby_sample,
        [TANDEM_RUNTIME_V8] = (void *)&tandem_v8_sample,
    },
};

/* Hands the sample to the program of the walker that follows `pid`; returns only when no
 * walker does (or the tail call failed: the caller then takes a plain sample). */
static __always_inline void interpreter_tail_call(void *ctx, __u32 pid)
{
    __u32 runtime = TANDEM_RUNTIMES;
    if (bpf_map_lookup_elem(&cpython_processes, &pid))
        runtime = TANDEM_RUNTIME_CPYTHON;
    else if (bpf_map_lookup_elem(&perl_processes, &pid))
        runtime = TANDEM_RUNTIME_PERL;
    else if (bpf_map_lookup_elem(&ruby_processes, &pid))
        runtime = TANDEM_RUNTIME_RUBY;
    else if (bpf_map_lookup_elem(&v8_processes, &pid))
        runtime = TANDEM_RUNTIME_V8;
    if (runtime < TANDEM_RUNTIMES)
        bpf_tail_call(ctx, &interpreter_programs, runtime);
}
