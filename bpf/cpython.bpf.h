/* ---- CPython frames (docs/cpython.md, bpf/tandem_cpython.h) ---- */
#include "walker_common.bpf.h"

/* The sampler's per-version layouts, written once at load. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_CPYTHON_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_cpython_layout);
} cpython_layouts SEC(".maps");

/* Processes whose interpreter the sampler checked (control record 19). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_CPYTHON_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_cpython_process);
} cpython_processes SEC(".maps");

/* tid -> the thread state found for it last time; checked against the thread again on each use. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __u64);
} cpython_threads SEC(".maps");

/* Code objects sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_cpython_code_key);
    __type(value, __u64);
} cpython_code_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now (it bumps it per connection). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} cpython_stream SEC(".maps");

/* The walk in progress: bpf_loop callbacks keep their state here, not on the 512-byte stack. */
struct cpython_scratch {
    struct tandem_cpython_walk walk;
    __u8 header[TANDEM_CPYTHON_CODE_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct cpython_scratch);
} cpython_scratch SEC(".maps");

/* ---- Finding the sampled thread's state ---- */

/* The current frame of thread state `thread`: 0 when it runs no Python code, or unreadable. */
static __always_inline __u64 cpython_current_frame(struct tandem_cpython_layout *layout, __u64 thread)
{
    __u64 frame;
    if (read_user_u64(&frame, thread + layout->thread_frame))
        return 0;
    if (layout->cframe_current_frame != TANDEM_CPYTHON_ABSENT && frame != 0 &&
        read_user_u64(&frame, frame + layout->cframe_current_frame))
        return 0;
    return frame;
}

/*
 * A search of every interpreter's thread states for the sampled thread's. A thread that runs
 * code in a subinterpreter has a state there and one in the interpreter that called it; the
 * list starts at the newest interpreter, so the first state found with a current frame is the
 * innermost and the second its caller's.
 */
struct cpython_search {
    __u64 fsbase;
    __u64 interpreter;   /* the interpreter whose thread list is being walked */
    __u64 thread;        /* the next thread state to look at; 0: go to the next interpreter */
    __u64 found;         /* the first state found (cached for a process with one interpreter) */
    __u64 frames[2];     /* the current frames of the states found, innermost first */
    __u32 layout;
    __u32 failed;
};

static long cpython_search_step(__u64 index, struct cpython_search *search)
{
    struct tandem_cpython_layout *layout = bpf_map_lookup_elem(&cpython_layouts, &search->layout);
    if (!layout)
        return 1;
    if (search->thread == 0) {
        if (search->interpreter == 0)
            return 1;
        if (read_user_u64(&search->interpreter, search->interpreter + layout->interpreter_next) ||
            search->interpreter == 0)
            return 1;
        if (read_user_u64(&search->thread, search->interpreter + layout->interpreter_threads_head)) {
            search->failed = 1;
            return 1;
        }
        return 0;
    }
    __u64 thread_id;
    if (read_user_u64(&thread_id, search->thread + layout->thread_id)) {
        search->failed = 1;
        return 1;
    }
    if (thread_id == search->fsbase) {
        __u64 frame = cpython_current_frame(layout, search->thread);
        if (search->found == 0)
            search->found = search->thread;
        if (frame != 0 && search->frames[0] == 0) {
            search->frames[0] = frame;
        } else if (frame != 0) {
            search->frames[1] = frame;
            return 1;
        }
    }
    if (read_user_u64(&search->thread, search->thread + layout->thread_next)) {
        search->failed = 1;
        return 1;
    }
    return 0;
}

/*
 * The current frames of the sampled thread's thread states (those whose thread_id is its
 * pthread_self, its fs base), innermost first, in frames[0] and frames[1]; 0 where none.
 * With one interpreter, a thread has one state: it is cached by tid and checked on each use.
 */
static __always_inline void cpython_thread_frames(struct tandem_cpython_process *process,
                                                  struct tandem_cpython_layout *layout, __u32 tid, __u32 *flags,
                                                  __u64 *frames)
{
    struct task_struct___tandem *task = (void *)bpf_get_current_task_btf();
    __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
    struct cpython_search search = { .fsbase = fsbase, .layout = process->layout };
    __u64 next_interpreter = 1;
    if (read_user_u64(&search.interpreter, process->runtime_address + layout->runtime_interpreters_head) ||
        search.interpreter == 0 ||
        read_user_u64(&next_interpreter, search.interpreter + layout->interpreter_next)) {
        *flags |= TANDEM_CPYTHON_WALK_READ_ERROR;
        return;
    }
    __u64 *cached = next_interpreter == 0 ? bpf_map_lookup_elem(&cpython_threads, &tid) : 0;
    if (cached) {
        __u64 thread = *cached, thread_id;
        if (!read_user_u64(&thread_id, thread + layout->thread_id) && thread_id == fsbase) {
            frames[0] = cpython_current_frame(layout, thread);
            return;
        }
    }
    if (read_user_u64(&search.thread, search.interpreter + layout->interpreter_threads_head)) {
        *flags |= TANDEM_CPYTHON_WALK_READ_ERROR;
        return;
    }
    bpf_loop(TANDEM_CPYTHON_MAX_THREAD_STEPS, cpython_search_step, &search, 0);
    if (search.failed)
        *flags |= TANDEM_CPYTHON_WALK_READ_ERROR;
    if (search.found && next_interpreter == 0)
        bpf_map_update_elem(&cpython_threads, &tid, &search.found, BPF_ANY);
    frames[0] = search.frames[0];
    frames[1] = search.frames[1];
}

/* ---- Code records ---- */

/*
 * Copies a str object (header and characters, as long as the object says and at most
 * `capacity` bytes) into `destination`; returns the bytes copied, -1 when unreadable,
 * and sets *cut when the bound cut it.
 */
static __always_inline int copy_str(__u8 *destination, __u32 capacity, __u64 object,
                                    struct tandem_cpython_layout *layout, int *cut)
{
    __s64 length;
    __u32 state;
    if (object == 0 || bpf_probe_read_user(&length, sizeof(length), (void *)(object + layout->unicode_length)) ||
        bpf_probe_read_user(&state, sizeof(state), (void *)(object + layout->unicode_state)))
        return -1;
    __u32 kind = (state >> 2) & 7;
    if (!((state >> 5) & 1) || (kind != 1 && kind != 2 && kind != 4) || length < 0 || length > 0x100000)
        return -1;
    __u64 total = ((state >> 6) & 1 ? layout->unicode_ascii_data : layout->unicode_compact_data) + (__u64)length * kind;
    if (total > capacity) {
        total = capacity;
        *cut = 1;
    }
    if (total == 0 || total > TANDEM_CPYTHON_FILE_BYTES)
        return -1;
    if (bpf_probe_read_user(destination, total, (void *)object))
        return -1;
    return total;
}

/* As copy_str, for the bytes object of a line table. */
static __always_inline int copy_bytes(__u8 *destination, __u64 object, struct tandem_cpython_layout *layout, int *cut)
{
    __s64 size;
    if (object == 0 || bpf_probe_read_user(&size, sizeof(size), (void *)(object + layout->bytes_size)))
        return -1;
    if (size < 0 || size > 0x1000000)
        return -1;
    __u64 total = layout->bytes_data + (__u64)size;
    if (total > TANDEM_CPYTHON_LINE_TABLE_BYTES) {
        total = TANDEM_CPYTHON_LINE_TABLE_BYTES;
        *cut = 1;
    }
    if (total == 0)
        return -1;
    if (bpf_probe_read_user(destination, total, (void *)object))
        return -1;
    return total;
}

/* The pointer at `offset` of a copied code header, or 0 when the layout has no such field. */
static __always_inline __u64 header_pointer(__u8 *header, __u32 offset)
{
    if (offset > TANDEM_CPYTHON_CODE_BYTES - 8)
        return 0;
    return *(__u64 *)(header + offset);
}

static __always_inline __u32 header_u32(__u8 *header, __u32 offset)
{
    if (offset > TANDEM_CPYTHON_CODE_BYTES - 4)
        return 0;
    return *(__u32 *)(header + offset);
}

/* Emits the code record of `code`, whose header is in `header`. Returns 0 when it is in the ring buffer. */
static __always_inline int emit_code(__u32 pid, __u64 code, __u32 fingerprint, __u32 layout_index,
                                     struct tandem_cpython_layout *layout, __u8 *header, __u32 header_bytes)
{
    struct tandem_cpython_code_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_CPYTHON_CODE_RINGBUF_FULL);
        return -1;
    }
    struct tandem_cpython_code_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_CPYTHON_CODE;
    fields->pid = pid;
    fields->code = code;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->reserved = 0;
    __u32 flags = 0;
    int cut = 0;
    if (header_bytes > TANDEM_CPYTHON_CODE_BYTES)
        header_bytes = TANDEM_CPYTHON_CODE_BYTES;
    fields->header_bytes = 0;
    if (header_bytes > 0 && !bpf_probe_read_kernel(event->header, header_bytes, header))
        fields->header_bytes = header_bytes;

    int copied = copy_str(event->name, TANDEM_CPYTHON_NAME_BYTES, header_pointer(header, layout->code_name), layout, &cut);
    fields->name_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_CPYTHON_CODE_NAME_UNREADABLE : (cut ? TANDEM_CPYTHON_CODE_NAME_CUT : 0);

    if (layout->code_qualname != TANDEM_CPYTHON_ABSENT) {
        cut = 0;
        copied = copy_str(event->qualname, TANDEM_CPYTHON_NAME_BYTES, header_pointer(header, layout->code_qualname),
                          layout, &cut);
        fields->qualname_bytes = copied < 0 ? 0 : copied;
        flags |= copied < 0 ? TANDEM_CPYTHON_CODE_QUALNAME_UNREADABLE : (cut ? TANDEM_CPYTHON_CODE_QUALNAME_CUT : 0);
    } else {
        fields->qualname_bytes = 0;
    }

    cut = 0;
    copied = copy_str(event->file, TANDEM_CPYTHON_FILE_BYTES, header_pointer(header, layout->code_filename), layout, &cut);
    fields->file_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_CPYTHON_CODE_FILE_UNREADABLE : (cut ? TANDEM_CPYTHON_CODE_FILE_CUT : 0);

    cut = 0;
    copied = copy_bytes(event->line_table, header_pointer(header, layout->code_line_table), layout, &cut);
    fields->line_table_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_CPYTHON_CODE_LINE_TABLE_UNREADABLE : (cut ? TANDEM_CPYTHON_CODE_LINE_TABLE_CUT : 0);

    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_CPYTHON_CODE_RECORDS);
    return 0;
}

/* ---- Walking the frame chain ---- */

struct cpython_walk_state {
    __u64 frame;
    __u64 outer;         /* the outer thread state's frame chain, walked after this one */
    __u64 generation;
    __u32 pid;
    __u32 layout;
};

static long cpython_frame_step(__u64 index, struct cpython_walk_state *state)
{
    __u32 zero = 0;
    struct cpython_scratch *scratch = bpf_map_lookup_elem(&cpython_scratch, &zero);
    struct tandem_cpython_layout *layout = bpf_map_lookup_elem(&cpython_layouts, &state->layout);
    if (!scratch || !layout)
        return 1;
    struct tandem_cpython_walk *walk = &scratch->walk;
    if (state->frame == 0) {
        /* A subinterpreter's chain ended: its caller's follows. */
        state->frame = state->outer;
        state->outer = 0;
    }
    __u64 frame = state->frame;
    if (frame == 0)
        return 1;
    __u64 previous;
    if (read_user_u64(&previous, frame + layout->frame_previous)) {
        walk->flags |= TANDEM_CPYTHON_WALK_READ_ERROR | TANDEM_CPYTHON_WALK_TRUNCATED;
        return 1;
    }
    state->frame = previous;
    __u32 count = walk->count;

    if (layout->entry_kind == TANDEM_CPYTHON_ENTRY_CSTACK_SHIM) {
        __u8 owner;
        if (bpf_probe_read_user(&owner, 1, (void *)(frame + layout->frame_owner))) {
            walk->flags |= TANDEM_CPYTHON_WALK_READ_ERROR | TANDEM_CPYTHON_WALK_TRUNCATED;
            return 1;
        }
        if (owner == layout->owner_cstack) {
            /* A C-level evaluation starts here: the frame below it was its first. */
            __u32 last = count - 1;
            if (last < TANDEM_CPYTHON_MAX_FRAMES)
                walk->frames[last].flags |= TANDEM_CPYTHON_FRAME_ENTRY;
            return 0;
        }
    }
    if (count >= TANDEM_CPYTHON_MAX_FRAMES) {
        walk->flags |= TANDEM_CPYTHON_WALK_TRUNCATED;
        return 1;
    }
    struct tandem_cpython_frame *out = &walk->frames[count];
    walk->count = count + 1;
    out->flags = 0;
    out->reserved = 0;
    out->fingerprint = 0;
    out->instruction = 0xffffffff;
    if (read_user_u64(&out->code, frame + layout->frame_code)) {
        out->code = 0;
        out->flags |= TANDEM_CPYTHON_FRAME_CODE_UNREADABLE;
    }

    switch (layout->entry_kind) {
    case TANDEM_CPYTHON_ENTRY_EVERY_FRAME:
        out->flags |= TANDEM_CPYTHON_FRAME_ENTRY;
        break;
    case TANDEM_CPYTHON_ENTRY_IS_ENTRY: {
        __u8 is_entry = 0;
        if (!bpf_probe_read_user(&is_entry, 1, (void *)(frame + layout->frame_is_entry)) && is_entry)
            out->flags |= TANDEM_CPYTHON_FRAME_ENTRY;
        break;
    }
    default:
        if (previous == 0)
            out->flags |= TANDEM_CPYTHON_FRAME_ENTRY;
        break;
    }

    if (layout->instruction_kind == TANDEM_CPYTHON_INSTRUCTION_POINTER) {
        __u64 pointer;
        if (out->code && !read_user_u64(&pointer, frame + layout->frame_instruction)) {
            __u64 start = out->code + layout->code_instructions;
            if (pointer >= start && pointer - start < 0x1000000)
                out->instruction = pointer - start;
        }
    } else {
        __s32 lasti;
        if (!bpf_probe_read_user(&lasti, sizeof(lasti), (void *)(frame + layout->frame_instruction)))
            out->instruction = (__u32)lasti;
    }

    if (!out->code)
        return 0;
    __u32 header_bytes = layout->code_header_bytes;
    if (header_bytes > TANDEM_CPYTHON_CODE_BYTES)
        header_bytes = TANDEM_CPYTHON_CODE_BYTES;
    if (header_bytes < 8 || bpf_probe_read_user(scratch->header, header_bytes, (void *)out->code)) {
        out->flags |= TANDEM_CPYTHON_FRAME_CODE_UNREADABLE;
        return 0;
    }
    /* A code object freed and another allocated at its address gets another key. */
    __u64 mix = header_pointer(scratch->header, layout->code_name) ^
                (header_pointer(scratch->header, layout->code_filename) << 1) ^
                ((__u64)header_u32(scratch->header, layout->code_first_line) << 40) ^
                header_u32(scratch->header, layout->code_flags);
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 fingerprint = mix >> 32;
    out->fingerprint = fingerprint;

    struct tandem_cpython_code_key key = { .code = out->code, .pid = state->pid, .fingerprint = fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&cpython_code_sent, &key);
    if (sent && *sent == state->generation)
        return 0;
    if (emit_code(state->pid, out->code, fingerprint, state->layout, layout, scratch->header, header_bytes) == 0)
        bpf_map_update_elem(&cpython_code_sent, &key, &state->generation, BPF_ANY);
    return 0;
}

/*
 * Walks the Python frames of the current thread into the per-CPU scratch walk.
 * Returns the scratch walk, or 0 when the process has no checked interpreter.
 */
static __always_inline struct tandem_cpython_walk *cpython_walk(__u32 pid, __u32 tid)
{
    struct tandem_cpython_process *process = bpf_map_lookup_elem(&cpython_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct cpython_scratch *scratch = bpf_map_lookup_elem(&cpython_scratch, &zero);
    struct tandem_cpython_layout *layout = bpf_map_lookup_elem(&cpython_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&cpython_stream, &zero);
    if (!scratch || !layout || !generation || layout->version == 0)
        return 0;
    struct tandem_cpython_walk *walk = &scratch->walk;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_CPYTHON_WALKS);

    __u64 frames[2] = {};
    cpython_thread_frames(process, layout, tid, &walk->flags, frames);
    if (frames[0] == 0) {
        walk->flags |= TANDEM_CPYTHON_WALK_NO_THREAD;
        return walk;
    }
    struct cpython_walk_state state = {
        .frame = frames[0], .outer = frames[1], .generation = *generation, .pid = pid, .layout = process->layout,
    };
    bpf_loop(TANDEM_CPYTHON_MAX_FRAMES * 2, cpython_frame_step, &state, 0);
    if (state.frame != 0 || state.outer != 0)
        walk->flags |= TANDEM_CPYTHON_WALK_TRUNCATED;
    if (walk->count > 0)
        count(TANDEM_COUNTER_CPYTHON_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a CPython process: the sample (as fill_sample fills it), then its Python frames. */
static __always_inline int emit_cpython_sample(void *ctx, struct tandem_cpython_walk *walk, int unwound,
                                               struct unwind_result *user)
{
    struct tandem_cpython_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_CPYTHON_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_CPYTHON_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_cpython_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
