/*
 * What the walker benchmarks' libbpf harnesses (bench/perl-walker/harness.c,
 * bench/php-walker/harness.c, bench/ruby-walker-cost.c) share: loading the sampling object
 * and one walker's object beside it as the sampler's WalkerPrograms does
 * (Sources/InterpreterLoading/WalkerPrograms.swift), sampling every CPU, and reading a
 * program's bpf_stats. Header-only, included by each harness: the harnesses stay one file
 * each to build, and none of this is tandem's own loader.
 */
#ifndef TANDEM_WALKER_HARNESS_COMMON_H
#define TANDEM_WALKER_HARNESS_COMMON_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "tandem_interpreters.h"

/* Opens and loads the sampling object at `path` (built from bpf/sampler.bpf.c); exits the
 * harness with the cause when the kernel refuses it. */
static struct bpf_object *harness_load_sampler(const char *path) {
    struct bpf_object *sampler = bpf_object__open_file(path, NULL);
    if (!sampler || bpf_object__load(sampler)) {
        fprintf(stderr, "harness: cannot load the sampling object %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return sampler;
}

/* Loads the walker's object at `path` with the sampling object's maps (each of its maps
 * reuses the descriptor of the sampling object's map of that name; only its own constants,
 * named with a dot, may be private) and puts its one program into the sampling object's
 * interpreter_programs at `slot` (enum tandem_runtime). Without this the sampling program's
 * tail call finds an empty slot and every sample is a plain one. Exits the harness with the
 * cause on failure (libbpf prints the verifier's log above). */
static void harness_load_walker(struct bpf_object *sampler, const char *path, unsigned slot) {
    struct bpf_object *walker = bpf_object__open_file(path, NULL);
    if (!walker) {
        fprintf(stderr, "harness: cannot open the walker object %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct bpf_map *map;
    bpf_object__for_each_map(map, walker) {
        struct bpf_map *shared = bpf_object__find_map_by_name(sampler, bpf_map__name(map));
        if (shared) {
            if (bpf_map__reuse_fd(map, bpf_map__fd(shared))) {
                fprintf(stderr, "harness: %s: cannot share map %s: %s\n", path, bpf_map__name(map), strerror(errno));
                exit(1);
            }
        } else if (!strchr(bpf_map__name(map), '.')) {
            fprintf(stderr, "harness: %s: map %s is not in the sampling object (build both from the same bpf/)\n",
                    path, bpf_map__name(map));
            exit(1);
        }
    }
    if (bpf_object__load(walker)) {
        fprintf(stderr, "harness: cannot load the walker object %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct bpf_program *program = bpf_object__next_program(walker, NULL);
    int descriptor = program ? bpf_program__fd(program) : -1;
    int programs = bpf_object__find_map_fd_by_name(sampler, "interpreter_programs");
    if (descriptor < 0 || programs < 0 || bpf_map_update_elem(programs, &slot, &descriptor, BPF_ANY)) {
        fprintf(stderr, "harness: cannot put %s's program into interpreter_programs[%u]: %s\n", path, slot,
                strerror(errno));
        exit(1);
    }
    /* The object stays open: its program lives while the slot holds it. */
}

/* Has the walker at `slot` follow `pid`, as the sampler's BPFProcessMap does: the runtime's
 * process entry in `processes_map` first, then the pid's slot in the sampling program's
 * interpreter_runtimes, the one map its dispatch looks a pid up in. Exits on failure. */
static void harness_follow(struct bpf_object *sampler, const char *processes_map, unsigned pid, const void *process,
                           unsigned slot) {
    int processes = bpf_object__find_map_fd_by_name(sampler, processes_map);
    int runtimes = bpf_object__find_map_fd_by_name(sampler, "interpreter_runtimes");
    if (processes < 0 || runtimes < 0 || bpf_map_update_elem(processes, &pid, process, BPF_ANY)
        || bpf_map_update_elem(runtimes, &pid, &slot, BPF_ANY)) {
        fprintf(stderr, "harness: cannot follow pid %u in %s: %s\n", pid, processes_map, strerror(errno));
        exit(1);
    }
}

/* Attaches `program` to a cpu-clock event at 997 Hz on every possible CPU (as the sampler). */
static void harness_sample_every_cpu(struct bpf_program *program) {
    for (int cpu = 0; cpu < libbpf_num_possible_cpus(); cpu++) {
        struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK,
                                        .size = sizeof(attr), .freq = 1, .sample_freq = 997 };
        int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, 0);
        if (fd < 0 || !bpf_program__attach_perf_event(program, fd)) fprintf(stderr, "harness: cpu %d not sampled\n", cpu);
    }
}

/* The program's total run time and run count so far (kernel.bpf_stats_enabled must be 1; a
 * tail-called walker's time counts in the program that called it). */
static void harness_program_stats(const struct bpf_program *program, unsigned long long *time, unsigned long long *runs) {
    struct bpf_prog_info info = {};
    unsigned length = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length);
    *time = info.run_time_ns;
    *runs = info.run_cnt;
}

#endif
