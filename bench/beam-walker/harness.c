/*
 * bench/beam-walker.sh's harness: loads tandem's sampling object (built from bpf/sampler.bpf.c)
 * and the BEAM walker's object beside it, into its interpreter_programs slot
 * (bench/walker-harness-common.h), writes the OTP 25 layout and names one VM to the BEAM walker
 * (or none), samples every CPU at 997 Hz for SECONDS after a 1 s warm-up, and prints the
 * sampling program's run time per run in that window (kernel.bpf_stats_enabled must be 1; a
 * tail-called walker's time counts in the program that called it), the window's samples of
 * the VM with Erlang frames, and the share of each innermost function (by the function
 * records' names).
 *
 * usage: harness OBJECT WALKER_OBJECT PID ADDRESSES SECONDS LAYOUT_CSV
 *   (PID 0: name no process; ADDRESSES: record 31's nine, the VM's, hex, comma-separated:
 *    the_active_code_index, r, erts_atom_table, beam_normal_exit, erts_aligned_scheduler_data,
 *    erts_no_schedulers, erts_frame_layout, erts_aligned_dirty_cpu_scheduler_data,
 *    erts_no_dirty_cpu_schedulers; LAYOUT_CSV: the layout's fields in struct order, as
 *    Sources/BEAMLayouts lists them)
 */
#include <stddef.h>
#include <time.h>
#include "tandem_sampler.h"
#include "../walker-harness-common.h"

#define FUNCTIONS 256
static unsigned long long beam_samples, with_frames, function_records, frames_total;
static unsigned long long leaf_address[FUNCTIONS], leaf_count[FUNCTIONS];
static char leaf_name[FUNCTIONS][600];
static int leaves;

static int slot(unsigned long long address) {
    int i = 0;
    while (i < leaves && leaf_address[i] != address) i++;
    if (i == leaves && leaves < FUNCTIONS) leaf_address[leaves++] = address;
    return i < FUNCTIONS ? i : -1;
}

static int handle(void *context, void *data, size_t size) {
    unsigned kind = *(unsigned *)data;
    if (kind == TANDEM_EVENT_BEAM_FUNCTION && size >= sizeof(struct tandem_beam_function_event)) {
        struct tandem_beam_function_event *event = data;
        function_records++;
        int i = slot(event->fields.code_info);
        if (i >= 0)
            snprintf(leaf_name[i], sizeof(leaf_name[i]), "%.*s:%.*s/%llu", event->fields.module_bytes, event->module,
                     event->fields.function_bytes, event->function, (unsigned long long)event->fields.arity);
    } else if (kind == TANDEM_EVENT_BEAM_SAMPLE && size >= sizeof(struct tandem_beam_sample_event)) {
        struct tandem_beam_sample_event *event = data;
        beam_samples++;
        if (event->walk.count > 0) {
            with_frames++;
            frames_total += event->walk.count;
            int i = slot(event->walk.frames[0].code_info);
            if (i >= 0) leaf_count[i]++;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: harness OBJECT WALKER_OBJECT PID ACTIVE,R,ATOMS,NORMAL_EXIT SECONDS LAYOUT_CSV\n");
        return 2;
    }
    argv++;
    unsigned pid = atoi(argv[2]);
    unsigned long long address[9];
    char *cursor = argv[3];
    for (int i = 0; i < 9; i++) {
        address[i] = strtoull(cursor, &cursor, 16);
        if (*cursor == ',') cursor++;
    }
    int seconds = atoi(argv[4]);
    struct bpf_object *object = harness_load_sampler(argv[0]);
    harness_load_walker(object, argv[1], TANDEM_RUNTIME_BEAM);

    /* The layout's fields in struct order: two u8, ten u16, five u8, eleven u16. */
    unsigned values[32];
    int count = 0;
    for (char *field = argv[5]; field && count < 32; field = strchr(field, ',') ? strchr(field, ',') + 1 : NULL)
        values[count++] = strtoul(field, 0, 0);
    if (count != 28) {
        fprintf(stderr, "harness: %d layout fields, not 28\n", count);
        return 1;
    }
    struct tandem_beam_layout layout = {
        .erts_major = values[0], .otp_release = values[1], .ranges_size = values[2], .ranges_modules = values[3],
        .ranges_count = values[4], .range_size = values[5], .code_header_function_count = values[6],
        .code_header_functions = values[7], .code_info_mfa = values[8], .index_table_segments = values[9],
        .atom_length = values[10], .atom_name = values[11], .atom_segment_shift = values[12],
        .atom_term_shift = values[13], .atom_tag_mask = values[14], .atom_tag = values[15],
        .code_index_count = values[16], .code_header_line_table = values[17], .line_table_file_names = values[18],
        .line_table_location_size = values[19], .line_table_locations = values[20], .line_table_functions = values[21],
        .scheduler_data_size = values[22], .scheduler_registers = values[23], .scheduler_current_process = values[24],
        .process_stop = values[25], .scheduler_thread = values[26], .process_instruction = values[27],
    };
    unsigned zero = 0;
    unsigned long long generation = 1;
    bpf_map_update_elem(bpf_object__find_map_fd_by_name(object, "beam_layouts"), &zero, &layout, 0);
    bpf_map_update_elem(bpf_object__find_map_fd_by_name(object, "beam_stream"), &zero, &generation, 0);
    struct tandem_beam_process process = { .active_code_index_address = address[0], .ranges_address = address[1],
                                           .atom_table_address = address[2], .normal_exit_address = address[3],
                                           .scheduler_data_address = address[4], .scheduler_count_address = address[5],
                                           .frame_layout_address = address[6], .dirty_scheduler_data_address = address[7],
                                           .dirty_scheduler_count_address = address[8], .instance = 1 };
    if (pid) harness_follow(object, "beam_processes", pid, &process, TANDEM_RUNTIME_BEAM);

    struct bpf_program *program = bpf_object__find_program_by_name(object, "tandem_sample");
    harness_sample_every_cpu(program);
    /* The program submits without wake-up: drain on a timer, as the sampler does. */
    struct ring_buffer *ring = ring_buffer__new(bpf_object__find_map_fd_by_name(object, "events"), handle, NULL, NULL);
    time_t warm = time(0) + 1;
    while (time(0) < warm) { ring_buffer__consume(ring); usleep(50000); }
    unsigned long long time0, runs0, time1, runs1, samples0 = beam_samples, frames0 = with_frames, total0 = frames_total;
    for (int i = 0; i < leaves; i++) leaf_count[i] = 0;
    harness_program_stats(program, &time0, &runs0);
    time_t end = time(0) + seconds;
    while (time(0) < end) { ring_buffer__consume(ring); usleep(50000); }
    harness_program_stats(program, &time1, &runs1);
    ring_buffer__consume(ring);
    unsigned long long runs = runs1 - runs0;
    printf("runs %llu ns_per_run %.0f beam_samples %llu with_frames %llu frames_per_walk %.1f function_records %llu\n",
           runs, runs ? (double)(time1 - time0) / runs : 0.0, beam_samples - samples0, with_frames - frames0,
           with_frames > frames0 ? (double)(frames_total - total0) / (with_frames - frames0) : 0.0, function_records);
    for (int i = 0; i < leaves; i++)
        if (leaf_count[i]) printf("leaf %s %llu\n", leaf_name[i][0] ? leaf_name[i] : "?", leaf_count[i]);
    return 0;
}
