/*
 * bench/perl-walker.sh's harness: loads tandem's sampling object (built from bpf/sampler.bpf.c)
 * and the Perl walker's object beside it, into its interpreter_programs slot
 * (bench/walker-harness-common.h), writes one perl layout and names one process to the Perl
 * walker (or none), samples every CPU at 997 Hz for SECONDS after a 1 s warm-up, and prints
 * the sampling program's run time per run in that window (kernel.bpf_stats_enabled must be
 * 1; a tail-called walker's time counts in the program that called it), the window's samples
 * of the perl process, and the share of each innermost sub (by the sub records' names).
 *
 * usage: harness OBJECT WALKER_OBJECT PID KEY_ADDRESS_HEX SECONDS LAYOUT_CSV   (PID 0: name no process)
 */
#include <time.h>
#include "tandem_sampler.h"
#include "../walker-harness-common.h"

#define SUBS 64
static unsigned long long perl_samples, with_frames, sub_records, frames_total;
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
            frames_total += event->walk.count;
            int i = slot(event->walk.frames[0].address);
            if (i >= 0) leaf_count[i]++;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: harness OBJECT WALKER_OBJECT PID KEY_ADDRESS_HEX SECONDS LAYOUT_CSV\n"); return 2; }
    argv++;
    unsigned pid = atoi(argv[2]);
    unsigned long long key_address = strtoull(argv[3], 0, 16);
    int seconds = atoi(argv[4]);
    struct bpf_object *object = harness_load_sampler(argv[0]);
    harness_load_walker(object, argv[1], TANDEM_RUNTIME_PERL);

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
    if (pid) harness_follow(object, "perl_processes", pid, &process, TANDEM_RUNTIME_PERL);

    struct bpf_program *program = bpf_object__find_program_by_name(object, "tandem_sample");
    harness_sample_every_cpu(program);
    /* The program submits without wake-up: drain on a timer, as the sampler does. */
    struct ring_buffer *ring = ring_buffer__new(bpf_object__find_map_fd_by_name(object, "events"), handle, NULL, NULL);
    time_t warm = time(0) + 1;
    while (time(0) < warm) { ring_buffer__consume(ring); usleep(50000); }
    /* Everything printed counts the window only, the sub records excepted (a sub is sent once). */
    unsigned long long time0, runs0, time1, runs1, samples0 = perl_samples, frames0 = with_frames, total0 = frames_total;
    for (int i = 0; i < leaves; i++) leaf_count[i] = 0;
    harness_program_stats(program, &time0, &runs0);
    time_t end = time(0) + seconds;
    while (time(0) < end) { ring_buffer__consume(ring); usleep(50000); }
    harness_program_stats(program, &time1, &runs1);
    ring_buffer__consume(ring);
    unsigned long long runs = runs1 - runs0;
    printf("runs %llu ns_per_run %.0f perl_samples %llu with_frames %llu frames_per_walk %.1f sub_records %llu\n", runs,
           runs ? (double)(time1 - time0) / runs : 0.0, perl_samples - samples0, with_frames - frames0,
           with_frames > frames0 ? (double)(frames_total - total0) / (with_frames - frames0) : 0.0, sub_records);
    for (int i = 0; i < leaves; i++)
        if (leaf_count[i]) printf("leaf %s %llu\n", leaf_name[i][0] ? leaf_name[i] : "?", leaf_count[i]);
    return 0;
}
