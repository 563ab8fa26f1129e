/*
 * Temporary check of the BEAM walker until BEAMLoading exists (docs/beam.md; remove it then):
 * loads bpf/beam_walker.bpf.c's object alone (its own maps), fills beam_layouts with the
 * OTP 25 layout (Sources/BEAMLayouts) and beam_processes for one VM, samples every CPU at
 * 499 Hz, and prints what the walker emitted: samples with Erlang frames, leaf functions,
 * one stack. Root.
 *
 *   cc -O1 -Wall -Ibpf -o /tmp/walker_check scripts/beam-layouts/walker_check.c -lbpf
 *   /tmp/walker_check OBJECT PID BIAS ACTIVE,R,ATOMS,NORMAL_EXIT SECONDS
 *     (BIAS: the VM's beam.smp load address, hex; the rest: ELF addresses, hex, as
 *      scripts/beam-layouts.sh finds them)
 */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include "tandem_sampler.h"
#include "tandem_beam.h"

#define MAXF 4096
static unsigned long long ci[MAXF]; static char names[MAXF][300]; static int nf;
static unsigned long leafcount[MAXF]; static long samples, plain, functions, truncated, complete;
static unsigned int vmpid; static char example[4096];

static const char *name_of(unsigned long long c) {
    for (int i = 0; i < nf; i++) if (ci[i] == c) return names[i];
    return "?";
}
static int handle(void *ctx, void *data, size_t size) {
    struct tandem_event_header *h = data;
    if (h->kind == TANDEM_EVENT_BEAM_FUNCTION) {
        struct tandem_beam_function_event *e = data;
        if (nf < MAXF) { ci[nf] = e->fields.code_info;
            snprintf(names[nf], 300, "%.*s:%.*s/%llu", e->fields.module_bytes, e->module, e->fields.function_bytes, e->function, (unsigned long long)e->fields.arity); nf++; }
        functions++;
    } else if (h->kind == TANDEM_EVENT_BEAM_SAMPLE) {
        struct tandem_beam_sample_event *e = data;
        samples++;
        if (e->walk.flags & TANDEM_BEAM_WALK_TRUNCATED) truncated++; else complete++;
        if (e->walk.count > 0) for (int i = 0; i < nf; i++) if (ci[i] == e->walk.frames[0].code_info) leafcount[i]++;
        if (samples == 50) { example[0] = 0; for (unsigned j = 0; j < e->walk.count; j++) { strcat(example, name_of(e->walk.frames[j].code_info)); strcat(example, " <- "); } }
    } else if (h->pid == vmpid) plain++;
    return 0;
}
int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: walker_check OBJECT PID BIAS ACTIVE,R,ATOMS,NORMAL_EXIT SECONDS\n"); return 2; }
    vmpid = atoi(argv[2]); unsigned long long bias = strtoull(argv[3], 0, 16); int seconds = atoi(argv[5]);
    unsigned long long address[4]; char *cursor = argv[4];
    for (int i = 0; i < 4; i++) { address[i] = strtoull(cursor, &cursor, 16); if (*cursor == ',') cursor++; }
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
    struct tandem_beam_layout layout = { .erts_major = 13, .otp_release = 25, .ranges_size = 32, .ranges_modules = 0,
        .ranges_count = 8, .range_size = 16, .code_header_function_count = 0, .code_header_functions = 96,
        .code_info_mfa = 16, .index_table_segments = 120, .atom_length = 24, .atom_name = 32,
        .atom_segment_shift = 10, .atom_term_shift = 6, .atom_tag_mask = 63, .atom_tag = 11, .code_index_count = 3 };
    __u32 zero = 0; __u64 gen = 1;
    bpf_map__update_elem(bpf_object__find_map_by_name(obj, "beam_layouts"), &zero, 4, &layout, sizeof(layout), 0);
    bpf_map__update_elem(bpf_object__find_map_by_name(obj, "beam_stream"), &zero, 4, &gen, 8, 0);
    struct tandem_beam_process p = { .active_code_index_address = bias + address[0], .ranges_address = bias + address[1],
        .atom_table_address = bias + address[2], .normal_exit_address = bias + address[3], .layout = 0 };
    bpf_map__update_elem(bpf_object__find_map_by_name(obj, "beam_processes"), &vmpid, 4, &p, sizeof(p), 0);
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, "tandem_beam_sample");
    int ncpu = libbpf_num_possible_cpus();
    for (int c = 0; c < ncpu; c++) {
        struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK, .size = sizeof(a), .sample_freq = 499, .freq = 1 };
        int fd = syscall(__NR_perf_event_open, &a, -1, c, -1, 0);
        if (fd < 0 || !bpf_program__attach_perf_event(prog, fd)) { perror("attach"); return 1; }
    }
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), handle, NULL, NULL);
    time_t end = time(0) + seconds;
    while (time(0) < end) { ring_buffer__consume(rb); usleep(20000); }
    printf("beam samples %ld (complete %ld, truncated %ld), plain samples of the VM %ld, function records %ld\n", samples, complete, truncated, plain, functions);
    for (int i = 0; i < nf; i++) if (leafcount[i]) printf("  leaf %-40s %lu\n", names[i], leafcount[i]);
    { int cfd = bpf_map__fd(bpf_object__find_map_by_name(obj, "counters")); for (__u32 k = 0; k < 64; k++) { __u64 v = 0; bpf_map_lookup_elem(cfd, &k, &v); if (v) printf("counter %u = %llu\n", k, (unsigned long long)v); } }
    printf("sample 50, leaf first: %s\n", example);
    return 0;
}
