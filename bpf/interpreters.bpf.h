/*
 * The sampling program's side of the interpreter walkers: their maps (each loader writes its
 * own at start), and the tail call to the walker of a process in one of them.
 *
 * Each walker is a perf_event program in an object of its own (<runtime>_walker.bpf.c), which
 * the sampler loads after sampling has started, apart from this one: the verifier checks each
 * program apart, each within its own million instructions (the walkers, each inlined with the
 * table unwinder, would not fit in one), the sampler's start does not wait for them, and a
 * sample pays only its own runtime's walk. A walker's object shares these maps by descriptor,
 * and its program goes into interpreter_programs once loaded; until then (or when it failed
 * to load) its processes get plain samples. Which walker follows a process is one lookup in
 * interpreter_runtimes, whatever the number of runtimes: a process in none (most of them)
 * costs that one lookup.
 */
#include "cpython.bpf.h"
#include "perl.bpf.h"
#include "ruby.bpf.h"
#include "php.bpf.h"
#include "v8.bpf.h"
#include "hotspot.bpf.h"
#include "beam.bpf.h"

/* Indexed by enum tandem_runtime (tandem_interpreters.h); WalkerPrograms fills it. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, TANDEM_RUNTIMES);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} interpreter_programs SEC(".maps");

/* pid -> enum tandem_runtime of the walker that follows it. Each loader writes the entry after
 * its own <runtime>_processes entry and deletes it before, so that a walker reached through
 * it finds its process (BPFProcessMap). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_INTERPRETER_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, __u32);
} interpreter_runtimes SEC(".maps");

/* Hands the sample to the program of the walker that follows `pid`; returns only when no
 * walker does (or the tail call failed: an empty slot, the caller then takes a plain sample). */
static __always_inline void interpreter_tail_call(void *ctx, __u32 pid)
{
    __u32 *runtime = bpf_map_lookup_elem(&interpreter_runtimes, &pid);
    if (runtime && *runtime < TANDEM_RUNTIMES)
        bpf_tail_call(ctx, &interpreter_programs, *runtime);
}
