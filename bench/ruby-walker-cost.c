/*
 * bench/ruby-walker-cost.sh's harness: loads tandem's sampling object and the Ruby walker's
 * object beside it, into its interpreter_programs slot (bench/walker-harness-common.h), points
 * the Ruby walker at one pid (or none: pid 0), samples every CPU at 997 Hz for SECONDS, and
 * prints what the walker emitted and the sampling program's run time per run (bpf_stats; the
 * tail-called walker's time counts in it). Not part of tandem: it stands in for the sampler's
 * loader to measure the BPF side alone.
 * usage: ruby-walker-cost OBJECT WALKER_OBJECT PID MODULE_SLOT_HEX SECONDS < layout
 */
#include "tandem_sampler.h"
#include "tandem_ruby.h"
#include "walker-harness-common.h"

static int samples, with_frames, iseqs, all;
static unsigned long long frames_total;
static int handle(void *ctx, void *data, size_t size) {
    __u32 kind = *(__u32 *)data;
    all++;
    if (kind == TANDEM_EVENT_RUBY_SAMPLE) {
        struct tandem_ruby_sample_event *e = data;
        samples++;
        if (e->walk.count) with_frames++;
        frames_total += e->walk.count;
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
    if (argc != 6) { fprintf(stderr, "usage: ruby-walker-cost OBJECT WALKER_OBJECT PID MODULE_SLOT_HEX SECONDS < layout\n"); return 2; }
    argv++;
    int pid = atoi(argv[2]);
    unsigned long long slot = strtoull(argv[3], 0, 16);
    struct bpf_object *obj = harness_load_sampler(argv[0]);
    harness_load_walker(obj, argv[1], TANDEM_RUNTIME_RUBY);
    int layouts = bpf_object__find_map_fd_by_name(obj, "ruby_layouts");
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
    if (pid > 0) harness_follow(obj, "ruby_processes", key, &p, TANDEM_RUNTIME_RUBY);
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, "tandem_sample");
    harness_sample_every_cpu(prog);
    struct ring_buffer *rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), handle, 0, 0);
    int seconds = atoi(argv[4]);
    for (int i = 0; i < seconds * 10; i++) { usleep(100000); ring_buffer__consume(rb); }
    unsigned long long run_time, runs;
    harness_program_stats(prog, &run_time, &runs);
    printf("runs %llu run_time_ns %llu ns_per_run %.0f\n", runs, run_time, runs ? (double)run_time / runs : 0.0);
    printf("records %d ruby samples %d with frames %d frames per walk %.1f iseq records %d\n", all, samples, with_frames,
           with_frames ? (double)frames_total / with_frames : 0.0, iseqs);
    int counters = bpf_object__find_map_fd_by_name(obj, "counters");
    __u64 walks = 0, found = 0;
    __u32 index = TANDEM_COUNTER_RUBY_WALKS;
    bpf_map_lookup_elem(counters, &index, &walks);
    index = TANDEM_COUNTER_RUBY_FRAMES_FOUND;
    bpf_map_lookup_elem(counters, &index, &found);
    printf("walks %llu walks_with_frames %llu\n", (unsigned long long)walks, (unsigned long long)found);
    return 0;
}
