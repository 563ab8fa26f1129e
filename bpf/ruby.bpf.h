/* ---- Ruby (YARV) frames (docs/ruby.md, bpf/tandem_ruby.h) ---- */
#include "walker_common.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_RUBY_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_ruby_layout);
} ruby_layouts SEC(".maps");

/* Processes whose VM the sampler checked (control record 27). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_RUBY_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_ruby_process);
} ruby_processes SEC(".maps");

/* Iseqs sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_ruby_iseq_key);
    __type(value, __u64);
} ruby_iseq_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} ruby_stream SEC(".maps");

struct ruby_scratch {
    struct tandem_ruby_walk walk;
    __u8 body[TANDEM_RUBY_BODY_BYTES];
    __u8 control_frame[64];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ruby_scratch);
} ruby_scratch SEC(".maps");

static __always_inline __u64 ruby_body_word(__u8 *body, __u32 offset)
{
    if (offset > TANDEM_RUBY_BODY_BYTES - 8)
        return 0;
    return *(__u64 *)(body + offset);
}

static __always_inline __u32 ruby_body_u32(__u8 *body, __u32 offset)
{
    if (offset > TANDEM_RUBY_BODY_BYTES - 4)
        return 0;
    return *(__u32 *)(body + offset);
}

/*
 * Copies the characters of String `value` (embedded or on the heap, as its flags say), at most
 * `capacity` bytes. Returns the bytes copied, -1 when it is no String or unreadable; *cut when cut.
 */
static __always_inline int ruby_copy_string(__u8 *destination, __u32 capacity, __u64 value,
                                            struct tandem_ruby_layout *layout, int *cut)
{
    __u64 flags, length, data;
    if (value == 0 || (value & 7) != 0 || read_user_u64(&flags, value) ||
        (flags & layout->type_mask) != layout->type_string)
        return -1;
    if (flags & layout->string_no_embed_flag) {
        if (read_user_u64(&length, value + layout->string_heap_length) ||
            read_user_u64(&data, value + layout->string_heap_pointer))
            return -1;
    } else {
        length = (flags & layout->string_embed_length_mask) >> layout->string_embed_length_shift;
        data = value + layout->string_embedded;
    }
    if (length > capacity) {
        length = capacity;
        *cut = 1;
    }
    if (length == 0 || length > TANDEM_RUBY_PATH_BYTES)
        return -1;
    if (bpf_probe_read_user(destination, length, (void *)data))
        return -1;
    return length;
}

/* location.pathobj: a String, or an Array [path, realpath] whose first element is the path. */
static __always_inline __u64 ruby_path_string(__u64 pathobj, struct tandem_ruby_layout *layout)
{
    __u64 flags, element = 0, elements;
    if (pathobj == 0 || (pathobj & 7) != 0 || read_user_u64(&flags, pathobj))
        return 0;
    if ((flags & layout->type_mask) != layout->type_array)
        return pathobj;
    if (flags & layout->array_embed_flag) {
        read_user_u64(&element, pathobj + layout->array_embedded);
    } else if (!read_user_u64(&elements, pathobj + layout->array_heap_pointer)) {
        read_user_u64(&element, elements);
    }
    return element;
}

/* Emits the iseq record of `iseq`, whose body's first bytes are in `body`. Returns 0 when it is in the ring buffer. */
static __always_inline int ruby_emit_iseq(__u32 pid, __u64 iseq, __u32 fingerprint, __u32 layout_index,
                                          struct tandem_ruby_layout *layout, __u8 *body, __u32 body_bytes)
{
    struct tandem_ruby_iseq_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_RUBY_ISEQ_RINGBUF_FULL);
        return -1;
    }
    struct tandem_ruby_iseq_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_RUBY_ISEQ;
    fields->pid = pid;
    fields->iseq = iseq;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->reserved = 0;
    __u32 flags = 0;
    int cut = 0;
    fields->body_bytes = 0;
    if (body_bytes > TANDEM_RUBY_BODY_BYTES)
        body_bytes = TANDEM_RUBY_BODY_BYTES;
    if (body_bytes > 0 && !bpf_probe_read_kernel(event->body, body_bytes, body))
        fields->body_bytes = body_bytes;

    int copied = ruby_copy_string(event->label, TANDEM_RUBY_LABEL_BYTES,
                                  ruby_body_word(body, layout->body_location_label), layout, &cut);
    fields->label_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_RUBY_ISEQ_LABEL_UNREADABLE : (cut ? TANDEM_RUBY_ISEQ_LABEL_CUT : 0);

    cut = 0;
    copied = ruby_copy_string(event->path, TANDEM_RUBY_PATH_BYTES,
                              ruby_path_string(ruby_body_word(body, layout->body_location_pathobj), layout), layout,
                              &cut);
    fields->path_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_RUBY_ISEQ_PATH_UNREADABLE : (cut ? TANDEM_RUBY_ISEQ_PATH_CUT : 0);

    /* The insn_info entries: insns_info.size of them. */
    __u64 entries = ruby_body_word(body, layout->body_insns_info_body);
    __u64 line_bytes = (__u64)ruby_body_u32(body, layout->body_insns_info_size) * layout->insn_info_entry_size;
    fields->line_entry_bytes = 0;
    /* A cut copy may end inside an entry: the aggregator takes whole entries. */
    if (line_bytes > TANDEM_RUBY_LINE_ENTRY_BYTES) {
        line_bytes = TANDEM_RUBY_LINE_ENTRY_BYTES;
        flags |= TANDEM_RUBY_ISEQ_LINES_CUT;
    }
    if (line_bytes > 0 && line_bytes <= TANDEM_RUBY_LINE_ENTRY_BYTES && entries != 0 &&
        !bpf_probe_read_user(event->line_entries, line_bytes, (void *)entries))
        fields->line_entry_bytes = line_bytes;
    else if (line_bytes > 0)
        flags |= TANDEM_RUBY_ISEQ_LINES_UNREADABLE;

    /* The succinct index table: 48 bytes of immediate ranks, then an 80-byte block per 512 positions past 54. */
    __u64 table = ruby_body_word(body, layout->body_succ_index_table);
    __u64 positions = ruby_body_u32(body, layout->body_iseq_size);
    __u64 table_bytes = 48 + (positions > 54 ? (positions - 54 + 511) / 512 * 80 : 0);
    fields->succ_table_bytes = 0;
    if (table_bytes > TANDEM_RUBY_SUCC_TABLE_BYTES) {
        table_bytes = TANDEM_RUBY_SUCC_TABLE_BYTES;
        flags |= TANDEM_RUBY_ISEQ_SUCC_TABLE_CUT;
    }
    if (table != 0 && ruby_body_u32(body, layout->body_insns_info_size) > 1) {
        if (table_bytes >= 48 && table_bytes <= TANDEM_RUBY_SUCC_TABLE_BYTES &&
            !bpf_probe_read_user(event->succ_table, table_bytes, (void *)table))
            fields->succ_table_bytes = table_bytes;
        else
            flags |= TANDEM_RUBY_ISEQ_SUCC_TABLE_UNREADABLE;
    }

    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_RUBY_ISEQ_RECORDS);
    return 0;
}

/* Element `index` of Array `array` (embedded or on the heap, as its flags say); 0 past its length or unreadable. */
static __always_inline __u64 ruby_array_element(__u64 array, __u64 index, struct tandem_ruby_layout *layout)
{
    __u64 flags, length, elements, element;
    if (array == 0 || (array & 7) != 0 || read_user_u64(&flags, array) ||
        (flags & layout->type_mask) != layout->type_array)
        return 0;
    if (flags & layout->array_embed_flag) {
        length = (flags & layout->array_embed_length_mask) >> layout->array_embed_length_shift;
        elements = array + layout->array_embedded;
    } else if (read_user_u64(&length, array + layout->array_heap_length) ||
               read_user_u64(&elements, array + layout->array_heap_pointer)) {
        return 0;
    }
    if (index >= length || read_user_u64(&element, elements + index * 8))
        return 0;
    return element;
}

/*
 * The name String of ID `id` in the VM's symbol table (symbol.c's get_id_serial_entry): the
 * serial (the ID itself up to tLAST_OP_ID, else id >> ID_SCOPE_SHIFT), at most last_id, picks
 * chunk serial / ID_ENTRY_UNIT of `ids` and its entry (serial % ID_ENTRY_UNIT) * ID_ENTRY_SIZE.
 * 0 when any step fails.
 */
static __always_inline __u64 ruby_symbol_name(__u64 id, __u64 symbols, struct tandem_ruby_layout *layout)
{
    __u64 serial = id > layout->last_operator_id ? id >> (layout->id_scope_shift & 63) : id;
    __u64 last = 0, ids;
    __u32 unit = layout->id_entry_unit;
    serial &= 0xffffffff;
    if (serial == 0 || unit == 0 || read_user_u64(&last, symbols + layout->symbols_last_id) ||
        serial > (last & 0xffffffff) || read_user_u64(&ids, symbols + layout->symbols_ids))
        return 0;
    __u64 chunk = ruby_array_element(ids, serial / unit, layout);
    return ruby_array_element(chunk, (serial % unit) * layout->id_entry_size, layout);
}

/* Emits the method record of a C method's definition: its name as the label, no body, path or lines.
 * Returns 0 when it is in the ring buffer. */
static __always_inline int ruby_emit_c_method(__u32 pid, __u64 definition, __u32 fingerprint, __u32 layout_index,
                                              struct tandem_ruby_layout *layout, __u64 name)
{
    struct tandem_ruby_iseq_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_RUBY_ISEQ_RINGBUF_FULL);
        return -1;
    }
    struct tandem_ruby_iseq_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_RUBY_ISEQ;
    fields->pid = pid;
    fields->iseq = definition;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->reserved = 0;
    fields->body_bytes = 0;
    fields->path_bytes = 0;
    fields->line_entry_bytes = 0;
    fields->succ_table_bytes = 0;
    int cut = 0;
    int copied = ruby_copy_string(event->label, TANDEM_RUBY_LABEL_BYTES, name, layout, &cut);
    fields->label_bytes = copied < 0 ? 0 : copied;
    fields->flags = TANDEM_RUBY_ISEQ_C_METHOD |
                    (copied < 0 ? TANDEM_RUBY_ISEQ_LABEL_UNREADABLE : (cut ? TANDEM_RUBY_ISEQ_LABEL_CUT : 0));
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_RUBY_ISEQ_RECORDS);
    return 0;
}

struct ruby_walk_state {
    __u64 cfp;
    __u64 end;
    __u64 generation;
    /* ruby_global_symbols in the process; 0: C-method frames are passed over. */
    __u64 global_symbols;
    /* The last iseq kept, its iseq_encoded and fingerprint: a recursion's frames share them,
     * and skip the body read and the sent-set lookup. */
    __u64 last_iseq;
    __u64 last_encoded;
    __u32 last_fingerprint;
    __u32 pid;
    __u32 layout;
};

/* The word at `offset` of the copied control frame (0 past its end). */
static __always_inline __u64 ruby_frame_word(__u8 *frame, __u32 offset)
{
    if (offset > 64 - 8)
        return 0;
    return *(__u64 *)(frame + offset);
}

/*
 * A C method's control frame: kept, as the method's definition (ep[VM_ENV_DATA_INDEX_ME_CREF] is
 * its method entry, whose def holds original_id, the name Ruby's backtraces print), when the
 * process's symbol table is known; its name goes out once per stream in a method record.
 */
static __always_inline long ruby_c_method_frame(struct ruby_walk_state *state, struct tandem_ruby_layout *layout,
                                                struct tandem_ruby_walk *walk, __u64 ep, __u64 frame_flags)
{
    __u64 entry, entry_flags, definition, id;
    if (state->global_symbols == 0 || read_user_u64(&entry, ep - layout->ep_method_entry) || entry == 0 ||
        (entry & 7) != 0 || read_user_u64(&entry_flags, entry) ||
        (entry_flags & layout->imemo_flags_mask) != layout->imemo_method_entry_flags ||
        read_user_u64(&definition, entry + layout->method_entry_definition) || definition == 0 ||
        read_user_u64(&id, definition + layout->definition_original_id))
        return 0;
    __u32 count = walk->count;
    if (count >= TANDEM_RUBY_MAX_FRAMES) {
        walk->flags |= TANDEM_RUBY_WALK_TRUNCATED;
        return 1;
    }
    /* A definition freed and another allocated at its address gets another key. */
    __u32 fingerprint = ((definition ^ (id << 20)) * 0x9E3779B97F4A7C15ULL) >> 32;
    struct tandem_ruby_frame *out = &walk->frames[count];
    walk->count = count + 1;
    out->iseq = definition;
    out->fingerprint = fingerprint;
    out->position = 0xffffffff;
    out->flags = TANDEM_RUBY_FRAME_C_METHOD | ((frame_flags & layout->frame_flag_finish) ? TANDEM_RUBY_FRAME_ENTRY : 0);
    out->reserved = 0;

    struct tandem_ruby_iseq_key key = { .iseq = definition, .pid = state->pid, .fingerprint = fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&ruby_iseq_sent, &key);
    if (sent && *sent == state->generation)
        return 0;
    __u64 name = ruby_symbol_name(id, state->global_symbols, layout);
    if (ruby_emit_c_method(state->pid, definition, fingerprint, state->layout, layout, name) == 0)
        bpf_map_update_elem(&ruby_iseq_sent, &key, &state->generation, BPF_ANY);
    return 0;
}

/* One control frame: kept when it runs an iseq or is a C method's; ifunc and dummy frames are passed over. */
static long ruby_frame_step(__u64 index, struct ruby_walk_state *state)
{
    __u32 zero = 0;
    struct ruby_scratch *scratch = bpf_map_lookup_elem(&ruby_scratch, &zero);
    struct tandem_ruby_layout *layout = bpf_map_lookup_elem(&ruby_layouts, &state->layout);
    if (!scratch || !layout)
        return 1;
    struct tandem_ruby_walk *walk = &scratch->walk;
    __u64 cfp = state->cfp;
    if (cfp >= state->end)
        return 1;
    __u32 frame_size = layout->control_frame_size;
    state->cfp = cfp + frame_size;
    if (frame_size > 64)
        frame_size = 64;
    __u64 pc, iseq, ep, frame_flags, iseq_flags;
    if (frame_size < 8 || bpf_probe_read_user(scratch->control_frame, frame_size, (void *)cfp)) {
        walk->flags |= TANDEM_RUBY_WALK_READ_ERROR | TANDEM_RUBY_WALK_TRUNCATED;
        return 1;
    }
    pc = ruby_frame_word(scratch->control_frame, layout->cfp_pc);
    iseq = ruby_frame_word(scratch->control_frame, layout->cfp_iseq);
    ep = ruby_frame_word(scratch->control_frame, layout->cfp_ep);
    if (read_user_u64(&frame_flags, ep)) {
        walk->flags |= TANDEM_RUBY_WALK_READ_ERROR | TANDEM_RUBY_WALK_TRUNCATED;
        return 1;
    }
    if ((frame_flags & layout->frame_magic_mask) == layout->frame_magic_cfunc)
        return ruby_c_method_frame(state, layout, walk, ep, frame_flags);
    if (iseq == 0 || pc == 0)
        return 0;
    if (iseq != state->last_iseq &&
        (read_user_u64(&iseq_flags, iseq) || (iseq_flags & layout->imemo_flags_mask) != layout->imemo_iseq_flags))
        return 0;
    __u32 count = walk->count;
    if (count >= TANDEM_RUBY_MAX_FRAMES) {
        walk->flags |= TANDEM_RUBY_WALK_TRUNCATED;
        return 1;
    }
    struct tandem_ruby_frame *out = &walk->frames[count];
    walk->count = count + 1;
    out->iseq = iseq;
    out->fingerprint = 0;
    out->position = 0xffffffff;
    out->flags = (frame_flags & layout->frame_flag_finish) ? TANDEM_RUBY_FRAME_ENTRY : 0;
    out->reserved = 0;

    if (iseq == state->last_iseq) {
        /* The same iseq as the frame before (recursion): its body was read and sent already. */
        if (pc >= state->last_encoded && pc - state->last_encoded < (0x1000000ULL << 3)) {
            __u64 position = (pc - state->last_encoded) >> 3;
            out->position = position > 0 ? position - 1 : 0;
        }
        out->fingerprint = state->last_fingerprint;
        return 0;
    }
    __u64 body;
    __u32 body_bytes = layout->body_bytes;
    if (body_bytes > TANDEM_RUBY_BODY_BYTES)
        body_bytes = TANDEM_RUBY_BODY_BYTES;
    if (read_user_u64(&body, iseq + layout->iseq_body) || body == 0 || body_bytes < 8 ||
        bpf_probe_read_user(scratch->body, body_bytes, (void *)body)) {
        out->flags |= TANDEM_RUBY_FRAME_ISEQ_UNREADABLE;
        return 0;
    }
    /* pc is the next instruction; rb_vm_get_sourceline takes the one before it. */
    __u64 encoded = ruby_body_word(scratch->body, layout->body_iseq_encoded);
    if (pc >= encoded && pc - encoded < (0x1000000ULL << 3)) {
        __u64 position = (pc - encoded) >> 3;
        out->position = position > 0 ? position - 1 : 0;
    }
    /* An iseq freed and another allocated at its address gets another key. */
    __u64 mix = body ^ (ruby_body_word(scratch->body, layout->body_location_label) << 1) ^
                (ruby_body_word(scratch->body, layout->body_location_pathobj) << 2) ^
                (ruby_body_word(scratch->body, layout->body_location_first_lineno) << 40);
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 fingerprint = mix >> 32;
    out->fingerprint = fingerprint;
    state->last_iseq = iseq;
    state->last_encoded = encoded;
    state->last_fingerprint = fingerprint;

    struct tandem_ruby_iseq_key key = { .iseq = iseq, .pid = state->pid, .fingerprint = fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&ruby_iseq_sent, &key);
    if (sent && *sent == state->generation)
        return 0;
    if (ruby_emit_iseq(state->pid, iseq, fingerprint, state->layout, layout, scratch->body, body_bytes) == 0)
        bpf_map_update_elem(&ruby_iseq_sent, &key, &state->generation, BPF_ANY);
    return 0;
}

/*
 * The sampled thread's execution context: ruby_current_ec in the thread's TLS block of the
 * module that defines it, found through the thread's DTV (glibc x86-64: the DTV pointer at
 * fs:8, 16-byte entries indexed by module id). 0 when the thread has none.
 */
static __always_inline __u64 ruby_execution_context(struct tandem_ruby_process *process, __u32 *flags)
{
    struct task_struct___tandem *task = (void *)bpf_get_current_task_btf();
    __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
    __u64 dtv, module, block, ec;
    if (fsbase == 0 || read_user_u64(&dtv, fsbase + 8) || read_user_u64(&module, process->tls_module_slot)) {
        *flags |= TANDEM_RUBY_WALK_READ_ERROR;
        return 0;
    }
    /* Not yet allocated for this thread: TLS_DTV_UNALLOCATED (-1), or 0. */
    if (module == 0 || module > 0xffff || read_user_u64(&block, dtv + module * 16) || block == 0 ||
        block == (__u64)-1 || process->tls_offset > TANDEM_RUBY_MAX_TLS_OFFSET ||
        read_user_u64(&ec, block + process->tls_offset))
        return 0;
    return ec;
}

/*
 * Walks the Ruby frames of the current thread into the per-CPU scratch walk.
 * Returns the scratch walk, or 0 when the process has no checked VM.
 */
static __always_inline struct tandem_ruby_walk *ruby_walk(__u32 pid)
{
    struct tandem_ruby_process *process = bpf_map_lookup_elem(&ruby_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct ruby_scratch *scratch = bpf_map_lookup_elem(&ruby_scratch, &zero);
    struct tandem_ruby_layout *layout = bpf_map_lookup_elem(&ruby_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&ruby_stream, &zero);
    if (!scratch || !layout || !generation || layout->version == 0)
        return 0;
    struct tandem_ruby_walk *walk = &scratch->walk;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_RUBY_WALKS);

    __u64 ec = ruby_execution_context(process, &walk->flags);
    __u64 stack, size, cfp;
    if (ec == 0) {
        walk->flags |= TANDEM_RUBY_WALK_NO_THREAD;
        return walk;
    }
    if (read_user_u64(&stack, ec + layout->ec_vm_stack) || read_user_u64(&size, ec + layout->ec_vm_stack_size) ||
        read_user_u64(&cfp, ec + layout->ec_cfp) || size > (1ULL << 28)) {
        walk->flags |= TANDEM_RUBY_WALK_READ_ERROR;
        return walk;
    }
    /* The VM's first control frame (the top frame under <main>) is not the program's: Ruby's
     * own backtraces start above it (vm_backtrace.c skips it), and so does the walk. */
    struct ruby_walk_state state = {
        .cfp = cfp, .end = stack + size * 8 - layout->control_frame_size, .generation = *generation,
        .global_symbols = process->global_symbols, .pid = pid, .layout = process->layout,
    };
    bpf_loop(TANDEM_RUBY_MAX_CONTROL_FRAMES, ruby_frame_step, &state, 0);
    if (state.cfp < state.end)
        walk->flags |= TANDEM_RUBY_WALK_TRUNCATED;
    if (walk->count > 0)
        count(TANDEM_COUNTER_RUBY_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a Ruby process: the sample (as fill_sample fills it), then its Ruby frames. */
static __always_inline int emit_ruby_sample(void *ctx, struct tandem_ruby_walk *walk, int unwound,
                                            struct unwind_result *user)
{
    struct tandem_ruby_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_RUBY_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_RUBY_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_ruby_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
