/*
 * bench/ruby-walker-cost.sh's harness: loads tandem's BPF object, points the Ruby walker at one
 * pid (or none: pid 0), samples every CPU at 997 Hz for SECONDS, and prints what the walker
 * emitted and the program's run time per run (bpf_stats). Not part of tandem: it stands in for
 * the sampler's loader to measure the BPF side alone.
 * usage: ruby-walker-cost OBJECT PID MODULE_SLOT_HEX SECONDS < layout
 */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include "tandem_sampler.h"
#include "tandem_ruby.h"

static int samples, with_frames, iseqs, all;
static int handle(void *ctx, void *data, size_t size) {
    __u32 kind = *(__u32 *)data;
    all++;
    if (kind == TANDEM_EVENT_RUBY_SAMPLE) {
        struct tandem_ruby_sample_event *e = data;
        samples++;
        if (e->walk.count) with_frames++;
        if (getenv("VERBOSE") && samples % 50 == 1) {
            printf("sample flags=%u count=%u:", e->walk.flags, e->walk.count);
            for (unsigned i = 0; i < e->walk.count && i < 20; i++)
                printf(" %llx/%u%s", (unsigned long long)e->walk.frames[i].iseq, e->walk.frames[i].position,
                       e->walk.frames[i].flags & 1 ? "!" : "");
            printf("\n");
        }
    } else if (kind == TANDEM_EVENT_RUBY_ISEQ) {
        struct tandem_ruby_iseq_event *e = data;
        iseqs++;
        if (getenv("VERBOSE")) printf("iseq %llx label=%.*s path=%.*s lines=%u succ=%u flags=%u body=%u\n", (unsigned long long)e->fields.iseq,
               e->fields.label_bytes, e->label, e->fields.path_bytes, e->path, e->fields.line_entry_bytes,
               e->fields.succ_table_bytes, e->fields.flags, e->fields.body_bytes);
    }
    return 0;
}

int main(int argc, char **argv) {
    int pid = atoi(argv[2]);
    unsigned long long slot = strtoull(argv[3], 0, 16);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
    int layouts = bpf_object__find_map_fd_by_name(obj, "ruby_layouts");
    int procs = bpf_object__find_map_fd_by_name(obj, "ruby_processes");
    /* The layout: `name value` lines on stdin, as scripts/ruby-layouts/offsets.c -k prints them. */
    struct tandem_ruby_layout l = {0};
    char name[64];
    unsigned long value;
    while (scanf("%63s %lu", name, &value) == 2) {
        if (!strcmp(name, "version")) l.version = value;
        else if (!strcmp(name, "ec_vm_stack")) l.ec_vm_stack = value;
        else if (!strcmp(name, "ec_vm_stack_size")) l.ec_vm_stack_size = value;
        else if (!strcmp(name, "ec_cfp")) l.ec_cfp = value;
        else if (!strcmp(name, "control_frame_size")) l.control_frame_size = value;
        else if (!strcmp(name, "cfp_pc")) l.cfp_pc = value;
        else if (!strcmp(name, "cfp_iseq")) l.cfp_iseq = value;
        else if (!strcmp(name, "cfp_ep")) l.cfp_ep = value;
        else if (!strcmp(name, "iseq_body")) l.iseq_body = value;
        else if (!strcmp(name, "body_iseq_size")) l.body_iseq_size = value;
        else if (!strcmp(name, "body_iseq_encoded")) l.body_iseq_encoded = value;
        else if (!strcmp(name, "body_location_pathobj")) l.body_location_pathobj = value;
        else if (!strcmp(name, "body_location_label")) l.body_location_label = value;
        else if (!strcmp(name, "body_location_first_lineno")) l.body_location_first_lineno = value;
        else if (!strcmp(name, "body_insns_info_body")) l.body_insns_info_body = value;
        else if (!strcmp(name, "body_insns_info_size")) l.body_insns_info_size = value;
        else if (!strcmp(name, "body_succ_index_table")) l.body_succ_index_table = value;
        else if (!strcmp(name, "body_bytes")) l.body_bytes = value;
        else if (!strcmp(name, "insn_info_entry_size")) l.insn_info_entry_size = value;
        else if (!strcmp(name, "insn_info_line_no")) l.insn_info_line_no = value;
        else if (!strcmp(name, "string_heap_length")) l.string_heap_length = value;
        else if (!strcmp(name, "string_heap_pointer")) l.string_heap_pointer = value;
        else if (!strcmp(name, "string_embedded")) l.string_embedded = value;
        else if (!strcmp(name, "array_embedded")) l.array_embedded = value;
        else if (!strcmp(name, "array_heap_pointer")) l.array_heap_pointer = value;
        else if (!strcmp(name, "string_no_embed_flag")) l.string_no_embed_flag = value;
        else if (!strcmp(name, "string_embed_length_mask")) l.string_embed_length_mask = value;
        else if (!strcmp(name, "string_embed_length_shift")) l.string_embed_length_shift = value;
        else if (!strcmp(name, "array_embed_flag")) l.array_embed_flag = value;
        else if (!strcmp(name, "frame_magic_mask")) l.frame_magic_mask = value;
        else if (!strcmp(name, "frame_magic_cfunc")) l.frame_magic_cfunc = value;
        else if (!strcmp(name, "frame_flag_finish")) l.frame_flag_finish = value;
        else if (!strcmp(name, "imemo_iseq_flags")) l.imemo_iseq_flags = value;
        else if (!strcmp(name, "imemo_flags_mask")) l.imemo_flags_mask = value;
        else if (!strcmp(name, "type_mask")) l.type_mask = value;
        else if (!strcmp(name, "type_string")) l.type_string = value;
        else if (!strcmp(name, "type_array")) l.type_array = value;
    }
    if (l.version == 0) { fprintf(stderr, "no layout on stdin\n"); return 1; }
    __u32 zero = 0;
    bpf_map_update_elem(layouts, &zero, &l, BPF_ANY);
    struct tandem_ruby_process p = { .tls_module_slot = slot, .tls_offset = 8, .layout = 0 };
    __u32 key = pid;
    if (pid > 0) bpf_map_update_elem(procs, &key, &p, BPF_ANY);
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, "tandem_sample");
    int ncpu = libbpf_num_possible_cpus();
    for (int cpu = 0; cpu < ncpu; cpu++) {
        struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK, .size = sizeof(attr),
                                        .freq = 1, .sample_freq = 997 };
        int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, 0);
        if (fd < 0) continue;
        if (!bpf_program__attach_perf_event(prog, fd)) fprintf(stderr, "attach failed cpu %d\n", cpu);
    }
    struct ring_buffer *rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), handle, 0, 0);
    int seconds = atoi(argv[4]);
    for (int i = 0; i < seconds * 10; i++) { usleep(100000); ring_buffer__consume(rb); }
    struct bpf_prog_info info = {0};
    __u32 info_size = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &info_size);
    printf("runs %llu run_time_ns %llu ns_per_run %.0f\n", (unsigned long long)info.run_cnt,
           (unsigned long long)info.run_time_ns, info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0);
    printf("records %d ruby samples %d with frames %d iseq records %d\n", all, samples, with_frames, iseqs);
    int counters = bpf_object__find_map_fd_by_name(obj, "counters");
    __u64 walks = 0, found = 0;
    __u32 index = TANDEM_COUNTER_RUBY_WALKS;
    bpf_map_lookup_elem(counters, &index, &walks);
    index = TANDEM_COUNTER_RUBY_FRAMES_FOUND;
    bpf_map_lookup_elem(counters, &index, &found);
    printf("walks %llu walks_with_frames %llu\n", (unsigned long long)walks, (unsigned long long)found);
    return 0;
}
