/* ---- PHP (Zend VM) frames (docs/php.md, bpf/tandem_php.h) ---- */
#include "walker_common.bpf.h"

/* The sampler's per-version layouts, written once at load. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_PHP_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_php_layout);
} php_layouts SEC(".maps");

/* Processes whose executor globals the sampler checked (control record 29). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_PHP_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_php_process);
} php_processes SEC(".maps");

/* Functions sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_php_function_key);
    __type(value, __u64);
} php_functions_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now (it bumps it per connection). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} php_stream SEC(".maps");

/* Bytes read at once from a zend_execute_data: opline, func, This and prev_execute_data lie below. */
#define PHP_EXECUTE_DATA_BYTES 64

/* The walk in progress: bpf_loop callbacks keep their frames and copies here, not on the 512-byte stack. */
struct php_scratch {
    struct tandem_php_walk walk;
    __u8 execute_data[PHP_EXECUTE_DATA_BYTES];
    __u8 function[TANDEM_PHP_FUNCTION_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct php_scratch);
} php_scratch SEC(".maps");

/* The field at `offset` of a copy of `size` bytes; 0 when the offset is past it (a layout the walker cannot use). */
static __always_inline __u64 php_copied_u64(__u8 *copy, __u32 size, __u32 offset)
{
    if (offset > size - 8)
        return 0;
    return *(__u64 *)(copy + offset);
}

static __always_inline __u32 php_copied_u32(__u8 *copy, __u32 size, __u32 offset)
{
    if (offset > size - 4)
        return 0;
    return *(__u32 *)(copy + offset);
}

/*
 * Copies the characters of zend_string `string`, as many as its length says and at most
 * `capacity`. Returns the bytes copied, -1 when unreadable; *cut when cut.
 */
static __always_inline int php_copy_string(__u8 *destination, __u32 capacity, __u64 string,
                                           struct tandem_php_layout *layout, int *cut)
{
    __u64 length;
    if (string == 0 || read_user_u64(&length, string + layout->string_length))
        return -1;
    if (length > capacity) {
        length = capacity;
        *cut = 1;
    }
    if (length == 0)
        return 0;
    if (length > TANDEM_PHP_FILE_BYTES)
        return -1;
    if (bpf_probe_read_user(destination, length, (void *)(string + layout->string_value)))
        return -1;
    return length;
}

/* Emits the record of `function`, whose first bytes are in `copy`. Returns 0 when it is in the ring buffer. */
static __always_inline int php_emit_function(__u32 pid, __u64 function, __u32 fingerprint, __u32 layout_index,
                                             struct tandem_php_layout *layout, __u8 *copy, __u8 type)
{
    struct tandem_php_function_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_PHP_FUNCTION_RINGBUF_FULL);
        return -1;
    }
    struct tandem_php_function_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_PHP_FUNCTION;
    fields->pid = pid;
    fields->function = function;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->type = type;
    fields->reserved = 0;
    fields->reserved2[0] = 0;
    fields->reserved2[1] = 0;
    fields->reserved2[2] = 0;
    int user = (type & 1) == 0;
    fields->line_start = user ? php_copied_u32(copy, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_line_start) : 0;
    __u32 flags = 0;
    int cut = 0;

    __u64 name = php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->function_name);
    fields->has_name = name != 0;
    int copied = name ? php_copy_string(event->name, TANDEM_PHP_NAME_BYTES, name, layout, &cut) : 0;
    fields->name_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_PHP_FUNCTION_NAME_UNREADABLE : (cut ? TANDEM_PHP_FUNCTION_NAME_CUT : 0);

    __u64 scope = php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->function_scope);
    __u64 class_name = 0;
    fields->has_class = scope != 0;
    cut = 0;
    copied = 0;
    if (scope)
        copied = read_user_u64(&class_name, scope + layout->class_entry_name)
                     ? -1
                     : php_copy_string(event->class_name, TANDEM_PHP_CLASS_BYTES, class_name, layout, &cut);
    fields->class_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_PHP_FUNCTION_CLASS_UNREADABLE : (cut ? TANDEM_PHP_FUNCTION_CLASS_CUT : 0);

    cut = 0;
    copied = 0;
    if (user)
        copied = php_copy_string(event->file, TANDEM_PHP_FILE_BYTES,
                                 php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_filename), layout,
                                 &cut);
    fields->file_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_PHP_FUNCTION_FILE_UNREADABLE : (cut ? TANDEM_PHP_FUNCTION_FILE_CUT : 0);

    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_PHP_FUNCTION_RECORDS);
    return 0;
}

struct php_walk_state {
    __u64 execute_data;  /* the frame to look at next; 0: the walk is done */
    __u64 generation;
    /* The last function kept and its fingerprint: a recursion's frames share them, and
     * skip the function read and the sent-set lookup. */
    __u64 last_function;
    __u32 last_fingerprint;
    __u32 last_type;
    __u32 pid;
    __u32 layout;
};

/* One execute_data: kept when it runs a function (internal or user code). */
static long php_frame_step(__u64 index, struct php_walk_state *state)
{
    __u32 zero = 0;
    struct php_scratch *scratch = bpf_map_lookup_elem(&php_scratch, &zero);
    struct tandem_php_layout *layout = bpf_map_lookup_elem(&php_layouts, &state->layout);
    if (!scratch || !layout)
        return 1;
    struct tandem_php_walk *walk = &scratch->walk;
    __u64 execute_data = state->execute_data;
    if (execute_data == 0)
        return 1;
    if (bpf_probe_read_user(scratch->execute_data, PHP_EXECUTE_DATA_BYTES, (void *)execute_data)) {
        walk->flags |= TANDEM_PHP_WALK_READ_ERROR | TANDEM_PHP_WALK_TRUNCATED;
        return 1;
    }
    __u8 *frame_copy = scratch->execute_data;
    state->execute_data = php_copied_u64(frame_copy, PHP_EXECUTE_DATA_BYTES, layout->execute_data_previous);
    __u64 function = php_copied_u64(frame_copy, PHP_EXECUTE_DATA_BYTES, layout->execute_data_function);
    if (function == 0)
        return 0;
    __u32 count = walk->count;
    if (count >= TANDEM_PHP_MAX_FRAMES) {
        walk->flags |= TANDEM_PHP_WALK_TRUNCATED;
        return 1;
    }
    struct tandem_php_frame *out = &walk->frames[count];
    walk->count = count + 1;
    out->function = function;
    out->fingerprint = 0;
    out->line = 0;
    out->flags = 0;
    out->reserved = 0;

    __u32 type;
    if (function == state->last_function) {
        /* The same function as the frame before (recursion): read and sent already. */
        type = state->last_type;
        out->fingerprint = state->last_fingerprint;
    } else {
        /* A user function's struct (zend_op_array) is the larger; an internal one's may end before it. */
        int short_copy = 0;
        if (bpf_probe_read_user(scratch->function, TANDEM_PHP_FUNCTION_BYTES, (void *)function)) {
            short_copy = 1;
            if (bpf_probe_read_user(scratch->function, 32, (void *)function)) {
                out->flags = TANDEM_PHP_FRAME_UNREADABLE;
                return 0;
            }
        }
        __u8 *copy = scratch->function;
        type = layout->function_type < TANDEM_PHP_FUNCTION_BYTES ? copy[layout->function_type & 0xff] : 0;
        /* User code in a short copy: its file and first line would be a previous function's bytes. */
        if (short_copy && (type & 1) == 0) {
            out->flags = TANDEM_PHP_FRAME_UNREADABLE;
            return 0;
        }
        __u64 mix = (php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->function_name) << 1) ^
                    (php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->function_scope) << 2) ^ type;
        if ((type & 1) == 0)
            mix ^= (php_copied_u64(copy, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_filename) << 3) ^
                   ((__u64)php_copied_u32(copy, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_line_start) << 40);
        mix = (mix ^ function) * 0x9E3779B97F4A7C15ULL;
        __u32 fingerprint = mix >> 32;
        fingerprint = fingerprint ? fingerprint : 1;
        out->fingerprint = fingerprint;
        state->last_function = function;
        state->last_fingerprint = fingerprint;
        state->last_type = type;

        struct tandem_php_function_key key = { .function = function, .pid = state->pid, .fingerprint = fingerprint };
        __u64 *sent = bpf_map_lookup_elem(&php_functions_sent, &key);
        if (!sent || *sent != state->generation) {
            if (php_emit_function(state->pid, function, fingerprint, state->layout, layout, copy, type) == 0)
                bpf_map_update_elem(&php_functions_sent, &key, &state->generation, BPF_ANY);
        }
    }
    if (type & 1) {
        out->flags |= TANDEM_PHP_FRAME_INTERNAL;
        return 0;
    }
    /* User code: the line of the frame's saved instruction; ZEND_CALL_TOP: it began an executor loop. */
    if (php_copied_u32(frame_copy, PHP_EXECUTE_DATA_BYTES, layout->execute_data_this_type_info) & TANDEM_PHP_CALL_TOP)
        out->flags |= TANDEM_PHP_FRAME_ENTRY;
    /* Only an instruction of the frame's own function: opcache's JIT keeps the instruction in a
     * register or a constant and saves it only before what may throw or call, so a JIT frame's
     * slot can still hold an instruction of a function that used the same stack memory before
     * (docs/php.md). Else no line: the aggregator shows the function's first line. The copy
     * is this frame's function's (a recursion reuses the last one read). */
    __u64 opline = php_copied_u64(frame_copy, PHP_EXECUTE_DATA_BYTES, layout->execute_data_opline);
    __u64 opcodes = php_copied_u64(scratch->function, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_opcodes);
    __u64 instructions = php_copied_u32(scratch->function, TANDEM_PHP_FUNCTION_BYTES, layout->op_array_last);
    __u32 line = 0;
    if (opline && opline >= opcodes && opline - opcodes < instructions * layout->op_size &&
        !bpf_probe_read_user(&line, sizeof(line), (void *)(opline + layout->op_line_number)))
        out->line = line;
    return 0;
}

/*
 * Walks the PHP frames of the current thread into the per-CPU scratch walk.
 * Returns the scratch walk, or 0 when the process has no checked engine.
 */
static __always_inline struct tandem_php_walk *php_walk(__u32 pid)
{
    struct tandem_php_process *process = bpf_map_lookup_elem(&php_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct php_scratch *scratch = bpf_map_lookup_elem(&php_scratch, &zero);
    struct tandem_php_layout *layout = bpf_map_lookup_elem(&php_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&php_stream, &zero);
    if (!scratch || !layout || !generation || layout->version == 0)
        return 0;
    struct tandem_php_walk *walk = &scratch->walk;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_PHP_WALKS);

    /* A non-thread-safe PHP has one executor per process: executor_globals. */
    struct php_walk_state state = { .generation = *generation, .pid = pid, .layout = process->layout };
    if (read_user_u64(&state.execute_data,
                      process->executor_globals_address + layout->executor_current_execute_data)) {
        walk->flags |= TANDEM_PHP_WALK_READ_ERROR;
        return walk;
    }
    if (state.execute_data == 0) {
        walk->flags |= TANDEM_PHP_WALK_IDLE;
        return walk;
    }
    bpf_loop(TANDEM_PHP_MAX_EXECUTE_DATA, php_frame_step, &state, 0);
    if (state.execute_data != 0)
        walk->flags |= TANDEM_PHP_WALK_TRUNCATED;
    if (walk->count > 0)
        count(TANDEM_COUNTER_PHP_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a PHP process: the sample (as fill_sample fills it), then its PHP frames. */
static __always_inline int emit_php_sample(void *ctx, struct tandem_php_walk *walk, int unwound,
                                           struct unwind_result *user)
{
    struct tandem_php_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_PHP_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_PHP_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_php_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
