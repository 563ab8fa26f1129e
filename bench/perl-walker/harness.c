/*
 * bench/perl-walker.sh's harness: loads tandem's BPF object (built from bpf/sampler.bpf.c),
 * writes one perl layout and names one process to the Perl walker (or none), samples every
 * CPU at 997 Hz for SECONDS after a 1 s warm-up, and prints the program's run time per run
 * in that window (kernel.bpf_stats_enabled must be 1), the window's samples of the perl
 * process, and the share of each innermost sub (by the sub records' names).
 *
 * usage: harness OBJECT PID KEY_ADDRESS_HEX SECONDS LAYOUT_CSV   (PID 0: name no process)
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "tandem_sampler.h"

#define SUBS 64
static unsigned long long perl_samples, with_frames, sub_records;
static unsigned long long leaf_address[SUBS], leaf_count[SUBS];
static char leaf_name[SUBS][96];
static int leaves;

static int slot(unsigned long long address) {
    int i = 0;
    while (i < leaves && leaf_address[i] != address) i++;
    if (i == leaves && leaves < SUBS) leaf_address[leaves++] = address;
    return i < SUBS ? i : -1;
}

static int handle(void *context, void *data, size_t size) {
    unsigned kind = *(unsigned *)data;
    if (kind == TANDEM_EVENT_PERL_SUB && size >= sizeof(struct tandem_perl_sub_event)) {
        struct tandem_perl_sub_event *event = data;
        sub_records++;
        int i = slot(event->fields.address), name = event->fields.name_bytes > 8 ? event->fields.name_bytes - 8 : 0,
            package = event->fields.package_bytes > 8 ? event->fields.package_bytes - 8 : 0;
        if (i >= 0)
            snprintf(leaf_name[i], sizeof(leaf_name[i]), "%.*s::%.*s", package, event->package + 8, name, event->name + 8);
    } else if (kind == TANDEM_EVENT_PERL_SAMPLE && size >= sizeof(struct tandem_perl_sample_event)) {
        struct tandem_perl_sample_event *event = data;
        perl_samples++;
        if (event->walk.count > 0) {
            with_frames++;
            int i = slot(event->walk.frames[0].address);
            if (i >= 0) leaf_count[i]++;
        }
    }
    return 0;
}

static void stats(int fd, unsigned long long *time, unsigned long long *runs) {
    struct bpf_prog_info info = {};
    unsigned length = sizeof(info);
    bpf_obj_get_info_by_fd(fd, &info, &length);
    *time = info.run_time_ns;
    *runs = info.run_cnt;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: harness OBJECT PID KEY_ADDRESS_HEX SECONDS LAYOUT_CSV\n"); return 2; }
    unsigned pid = atoi(argv[2]);
    unsigned long long key_address = strtoull(argv[3], 0, 16);
    int seconds = atoi(argv[4]);
    struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
    if (!object || bpf_object__load(object)) { fprintf(stderr, "harness: cannot load %s\n", argv[1]); return 1; }

    /* The layout's fields in struct order, the version first. */
    __u16 fields[32];
    int count = 0;
    unsigned version = strtoul(argv[5], 0, 0);
    for (char *field = strchr(argv[5], ','); field && count < 32; field = strchr(field + 1, ','))
        fields[count++] = atoi(field + 1);
    struct tandem_perl_layout layout;
    if (count * 2 + 4 != sizeof(layout)) { fprintf(stderr, "harness: %d layout fields\n", count); return 1; }
    layout.version = version;
    memcpy((char *)&layout + 4, fields, count * 2);
    unsigned zero = 0;
    unsigned long long generation = 1;
    bpf_map_update_elem(bpf_object__find_map_fd_by_name(object, "perl_layouts"), &zero, &layout, 0);
    bpf_map_update_elem(bpf_object__find_map_fd_by_name(object, "perl_stream"), &zero, &generation, 0);
    struct tandem_perl_process process = { .thread_key_address = key_address };
    if (pid) bpf_map_update_elem(bpf_object__find_map_fd_by_name(object, "perl_processes"), &pid, &process, 0);

    struct bpf_program *program = bpf_object__find_program_by_name(object, "tandem_sample");
    for (int cpu = 0; cpu < libbpf_num_possible_cpus(); cpu++) {
        struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK,
                                        .size = sizeof(attr), .freq = 1, .sample_freq = 997 };
        int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, 0);
        if (fd < 0 || !bpf_program__attach_perf_event(program, fd)) fprintf(stderr, "harness: cpu %d not sampled\n", cpu);
    }
    /* The program submits without wake-up: drain on a timer, as the sampler does. */
    struct ring_buffer *ring = ring_buffer__new(bpf_object__find_map_fd_by_name(object, "events"), handle, NULL, NULL);
    time_t warm = time(0) + 1;
    while (time(0) < warm) { ring_buffer__consume(ring); usleep(50000); }
    unsigned long long time0, runs0, time1, runs1, samples0 = perl_samples;
    stats(bpf_program__fd(program), &time0, &runs0);
    time_t end = time(0) + seconds;
    while (time(0) < end) { ring_buffer__consume(ring); usleep(50000); }
    stats(bpf_program__fd(program), &time1, &runs1);
    ring_buffer__consume(ring);
    unsigned long long runs = runs1 - runs0;
    printf("runs %llu ns_per_run %.0f perl_samples %llu with_frames %llu sub_records %llu\n", runs,
           runs ? (double)(time1 - time0) / runs : 0.0, perl_samples - samples0, with_frames, sub_records);
    for (int i = 0; i < leaves; i++)
        if (leaf_count[i]) printf("leaf %s %llu\n", leaf_name[i][0] ? leaf_name[i] : "?", leaf_count[i]);
    return 0;
}
