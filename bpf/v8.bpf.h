/* ---- V8 (Node.js) JavaScript frames (docs/v8.md, bpf/tandem_v8.h) ---- */

/* The sampler's per-build layouts, written once at load. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_V8_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_v8_layout);
} v8_layouts SEC(".maps");

/* Processes whose V8 the sampler checked (control record 23). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_V8_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_v8_process);
} v8_processes SEC(".maps");

/* Functions sent: the stream generation they were sent in << 1, | 1 when the record was
 * sent from a frame of the function's own (with its bytecode table, when it had one). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_v8_function_key);
    __type(value, __u64);
} v8_functions_sent SEC(".maps");

/* Optimized code objects sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, TANDEM_V8_MAX_CODES_SENT);
    __type(key, struct tandem_v8_code_key);
    __type(value, __u64);
} v8_codes_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now (it bumps it per connection). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} v8_stream SEC(".maps");

/* The walk in progress: bpf_loop callbacks keep their state here, not on the 512-byte stack. */
struct v8_scratch {
    struct tandem_v8_walk walk;
    __u8 sfi[TANDEM_V8_SFI_BYTES];
    /* The functions inlined into the code object whose record is being written. */
    struct tandem_v8_inlined_function inlined[TANDEM_V8_MAX_INLINED];
    /* Set when a function record found the ring buffer full (in map memory, not on the
     * stack: the verifier then does not follow both values through the walk). */
    __u32 unsent;
    __u32 reserved;
    /* The bytecode source position table of the function whose record is being written. */
    __u8 table[TANDEM_V8_BYTECODE_TABLE_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct v8_scratch);
} v8_scratch SEC(".maps");

/* The instance type of the heap object `tagged` points to; 0 when it is none or unreadable. */
static __always_inline __u16 v8_type(struct tandem_v8_layout *layout, __u64 tagged)
{
    __u64 map;
    __u16 type;
    if ((tagged & 3) != 1 || bpf_probe_read_user(&map, sizeof(map), (void *)(tagged - 1 + layout->heap_object_map)))
        return 0;
    if ((map & 3) != 1 || bpf_probe_read_user(&type, sizeof(type), (void *)(map - 1 + layout->map_instance_type)))
        return 0;
    return type;
}

static __always_inline __u64 v8_sfi_word(__u8 *sfi, __u32 offset)
{
    if (offset > TANDEM_V8_SFI_BYTES - 8)
        return 0;
    return *(__u64 *)(sfi + offset);
}

/*
 * Copies the sequential string `tagged` points to (after a thin string, its target): its
 * header and characters, as long as the string says and at most `capacity` bytes. Returns
 * the bytes copied, -1 when it is no sequential string or unreadable; *type: its instance type.
 */
static __always_inline int v8_copy_string(__u8 *destination, __u32 capacity, __u64 tagged,
                                          struct tandem_v8_layout *layout, __u16 *type, int *cut)
{
    __u16 kind = v8_type(layout, tagged);
    if (kind != 0 && kind < layout->first_nonstring_type &&
        (kind & layout->string_representation_mask) == layout->thin_string_tag) {
        if (bpf_probe_read_user(&tagged, sizeof(tagged), (void *)(tagged - 1 + layout->thin_string_actual)))
            return -1;
        kind = v8_type(layout, tagged);
    }
    if (kind == 0 || kind >= layout->first_nonstring_type ||
        (kind & layout->string_representation_mask) != layout->seq_string_tag)
        return -1;
    __s32 length;
    if (bpf_probe_read_user(&length, sizeof(length), (void *)(tagged - 1 + layout->string_length)) || length < 0 ||
        length > 0x1000000)
        return -1;
    __u64 width = (kind & layout->string_encoding_mask) == layout->one_byte_string_tag ? 1 : 2;
    __u64 total = layout->seq_string_chars + (__u64)length * width;
    if (total > capacity) {
        total = capacity;
        *cut = 1;
    }
    if (total == 0 || total > TANDEM_V8_SCRIPT_NAME_BYTES)
        return -1;
    if (bpf_probe_read_user(destination, total, (void *)(tagged - 1)))
        return -1;
    *type = kind;
    return total;
}

/* Reads the length (a Smi) of the FixedArray-like object `tagged`; -1 when unreadable. */
static __always_inline long v8_array_length(struct tandem_v8_layout *layout, __u64 tagged)
{
    __u64 length;
    if (bpf_probe_read_user(&length, sizeof(length), (void *)(tagged - 1 + layout->fixed_array_length)) || (length & 1))
        return -1;
    return (long)(length >> 32);
}

/* The state of the copy of a function's bytecode source position table. */
struct v8_table_state {
    __u32 layout;
    __u32 length;        /* bytes copied to scratch->table */
    __u32 flags;         /* TANDEM_V8_FUNCTION_TABLE_CUT */
    __u32 reserved;
};

/*
 * Copies the source position table of the bytecode of the SharedFunctionInfo in scratch->sfi
 * into scratch->table, when its function data is a BytecodeArray, or baseline (Sparkplug)
 * code, whose deoptimization-data slot holds its BytecodeArray. Called as a one-iteration
 * bpf_loop callback: as a call, not inlined, it cost the verifier less than inline at either
 * end of the function record (docs/v8.md).
 */
static long v8_table_step(__u64 index, struct v8_table_state *state)
{
    __u32 zero = 0;
    struct v8_scratch *scratch = bpf_map_lookup_elem(&v8_scratch, &zero);
    struct tandem_v8_layout *layout = bpf_map_lookup_elem(&v8_layouts, &state->layout);
    if (!scratch || !layout)
        return 1;
    __u64 bytecode = v8_sfi_word(scratch->sfi, layout->sfi_function_data), table = 0;
    if (v8_type(layout, bytecode) == layout->type_code &&
        bpf_probe_read_user(&bytecode, sizeof(bytecode), (void *)(bytecode - 1 + layout->code_deoptimization_data)))
        return 1;
    if (v8_type(layout, bytecode) != layout->type_bytecode_array ||
        bpf_probe_read_user(&table, sizeof(table), (void *)(bytecode - 1 + layout->bytecode_array_source_position_table)) ||
        v8_type(layout, table) != layout->type_byte_array)
        return 1;
    long length = v8_array_length(layout, table);
    if (length > (long)sizeof(scratch->table)) {
        length = sizeof(scratch->table);
        state->flags = TANDEM_V8_FUNCTION_TABLE_CUT;
    }
    if (length > 0 && length <= (long)sizeof(scratch->table) &&
        !bpf_probe_read_user(scratch->table, length, (void *)(table - 1 + layout->fixed_array_data)))
        state->length = length;
    else
        state->flags = 0;
    return 1;
}

/* Emits the function record of `sfi`, whose first bytes are in scratch->sfi (with its bytecode's
 * position table when `with_table`). Returns 0 when it is in the ring buffer. */
static __always_inline int v8_emit_function(__u32 pid, __u64 sfi, __u32 fingerprint, __u32 layout_index,
                                            struct tandem_v8_layout *layout, struct v8_scratch *scratch,
                                            int with_table)
{
    __u8 *header = scratch->sfi;
    /* The source position table of the function's bytecode (interpreted frames' lines),
     * into scratch->table by a loop callback, first, where few paths of this function meet
     * it; only for a function found in a frame of its own (`with_table`): in the loop over
     * a code object's inlined functions it cost the verifier ~100k more instructions. */
    struct v8_table_state table = { .layout = layout_index };
    if (with_table)
        bpf_loop(1, v8_table_step, &table, 0);
    struct tandem_v8_function_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_V8_FUNCTION_RINGBUF_FULL);
        return -1;
    }
    /* Whole (the sampler keeps table_bytes of it): a constant size adds no path. */
    bpf_probe_read_kernel(event->table, sizeof(event->table), scratch->table);
    event->fields.table_bytes = table.length;
    event->fields.reserved = 0;
    struct tandem_v8_function_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_V8_FUNCTION;
    fields->record = TANDEM_V8_RECORD_FUNCTION;
    fields->pid = pid;
    fields->sfi = sfi;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->sfi_bytes = bpf_probe_read_kernel(event->sfi, TANDEM_V8_SFI_BYTES, header) ? 0 : TANDEM_V8_SFI_BYTES;
    fields->scope_bytes = 0;
    fields->name_bytes = 0;
    fields->name_type = 0;
    fields->script_name_bytes = 0;
    fields->script_name_type = 0;
    __u32 flags = 0;
    int cut = 0, copied = -1;
    __u16 type = 0;

    /* The name: a String, or the first string among a ScopeInfo's slots past its context locals. */
    __u64 name = v8_sfi_word(header, layout->sfi_name_or_scope_info);
    __u16 name_kind = v8_type(layout, name);
    if (name_kind != 0 && name_kind < layout->first_nonstring_type) {
        copied = v8_copy_string(event->name, TANDEM_V8_NAME_BYTES, name, layout, &type, &cut);
    } else if (name_kind == layout->type_scope_info &&
               !bpf_probe_read_user(event->scope, sizeof(event->scope), (void *)(name - 1 + layout->scope_info_slots))) {
        fields->scope_bytes = sizeof(event->scope);
        flags |= TANDEM_V8_FUNCTION_NAME_FROM_SCOPE;
        /* Read again from the process (not the copy): the verifier then needs no bound on the slot. */
        __u64 slots = name - 1 + layout->scope_info_slots, locals = 0, candidate = 0;
        bpf_probe_read_user(&locals, sizeof(locals), (void *)(slots + 8 * (__u64)layout->scope_info_context_local_count));
        __u64 first = layout->scope_info_first_vars + 2 * ((locals >> 32) & 0xffff);
        for (int i = 0; i < 4; i++) {
            __u64 slot = first + i, value = 0;
            if (slot >= TANDEM_V8_SCOPE_SLOTS)
                break;
            if (bpf_probe_read_user(&value, sizeof(value), (void *)(slots + 8 * slot)))
                break;
            __u16 kind = v8_type(layout, value);
            if (kind != 0 && kind < layout->first_nonstring_type) {
                candidate = value;
                break;
            }
        }
        if (candidate)
            copied = v8_copy_string(event->name, TANDEM_V8_NAME_BYTES, candidate, layout, &type, &cut);
    }
    fields->name_bytes = copied < 0 ? 0 : copied;
    fields->name_type = copied < 0 ? 0 : type;
    flags |= copied < 0 ? TANDEM_V8_FUNCTION_NAME_UNREADABLE : (cut ? TANDEM_V8_FUNCTION_NAME_CUT : 0);

    /* The script's name. */
    __u64 script = v8_sfi_word(header, layout->sfi_script_or_debug_info), script_name = 0;
    cut = 0;
    copied = -1;
    if (v8_type(layout, script) == layout->type_script &&
        !bpf_probe_read_user(&script_name, sizeof(script_name), (void *)(script - 1 + layout->script_name)))
        copied = v8_copy_string(event->script_name, TANDEM_V8_SCRIPT_NAME_BYTES, script_name, layout, &type, &cut);
    fields->script_name_bytes = copied < 0 ? 0 : copied;
    fields->script_name_type = copied < 0 ? 0 : type;
    flags |= copied < 0 ? TANDEM_V8_FUNCTION_SCRIPT_NAME_UNREADABLE : (cut ? TANDEM_V8_FUNCTION_SCRIPT_NAME_CUT : 0);

    flags |= table.flags;
    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_V8_FUNCTION_RECORDS);
    return 0;
}

/* ---- Walking the frame-pointer chain ---- */

struct v8_walk_state {
    __u64 fp;
    __u64 pc;            /* the pc of the frame at fp: the sampled pc, then return addresses */
    __u64 generation;
    __u32 pid;
    __u32 layout;
    __u32 done;
    __u32 returned;      /* pc is a return address (every frame but the one the sample hit) */
};

/*
 * Reads the SharedFunctionInfo `sfi` (tagged) into scratch->sfi and sends its function
 * record once per stream. Returns its fingerprint, 0 when it is no readable SharedFunctionInfo;
 * *unsent is set when its record was due but the ring buffer had no room.
 */
static __always_inline __u32 v8_send_function(__u32 pid, __u32 layout_index, __u64 generation,
                                              struct tandem_v8_layout *layout, struct v8_scratch *scratch, __u64 sfi,
                                              __u32 *unsent, int with_table)
{
    if (v8_type(layout, sfi) != layout->type_shared_function_info ||
        bpf_probe_read_user(scratch->sfi, TANDEM_V8_SFI_BYTES, (void *)(sfi - 1)))
        return 0;
    /* A function freed and another allocated at its address gets another key; so does a
     * function whose name slot turned from its String into its ScopeInfo when compiled. */
    __u64 mix = v8_sfi_word(scratch->sfi, layout->sfi_name_or_scope_info) ^
                (v8_sfi_word(scratch->sfi, layout->sfi_script_or_debug_info) << 1) ^
                ((__u64)(__u32)v8_sfi_word(scratch->sfi, layout->sfi_flags) << 40);
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 fingerprint = (mix >> 32) | 1;

    struct tandem_v8_function_key key = { .sfi = sfi, .pid = pid, .fingerprint = fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&v8_functions_sent, &key);
    if (sent && *sent == generation)
        return fingerprint;
    /* Marked sent only from a frame of its own (with its table): a function met inlined is
     * sent with each code record that names it, until it is met running on its own. */
    if (v8_emit_function(pid, sfi, fingerprint, layout_index, layout, scratch, with_table) != 0)
        *unsent = 1;
    else if (with_table)
        bpf_map_update_elem(&v8_functions_sent, &key, &generation, BPF_ANY);
    return fingerprint;
}

/* The state of the loop over a code object's inlined functions. */
struct v8_inlined_state {
    __u64 literals;      /* the first entry of the deoptimization literal array (untagged address) */
    __u64 generation;
    __u32 pid;
    __u32 layout;
    __u32 unreadable;
    __u32 reserved;
};

/* Sends the record of inlined function `index` and notes its key in scratch->inlined. */
static long v8_inlined_step(__u64 index, struct v8_inlined_state *state)
{
    __u32 zero = 0;
    struct v8_scratch *scratch = bpf_map_lookup_elem(&v8_scratch, &zero);
    struct tandem_v8_layout *layout = bpf_map_lookup_elem(&v8_layouts, &state->layout);
    if (!scratch || !layout || index >= TANDEM_V8_MAX_INLINED)
        return 1;
    struct tandem_v8_inlined_function *out = &scratch->inlined[index];
    out->sfi = 0;
    out->fingerprint = 0;
    out->reserved = 0;
    __u64 entry = 0;
    if (bpf_probe_read_user(&entry, sizeof(entry), (void *)(state->literals + 8 * index))) {
        state->unreadable = 1;
        return 0;
    }
    /* A weak reference (low bits 11) to the SharedFunctionInfo: clear the weak bit. */
    entry &= ~2ULL;
    __u32 fingerprint = v8_send_function(state->pid, state->layout, state->generation, layout, scratch, entry,
                                         &scratch->unsent, 0);
    if (fingerprint == 0) {
        state->unreadable = 1;
        return 0;
    }
    out->sfi = entry;
    out->fingerprint = fingerprint;
    return 0;
}

/*
 * Emits the code record of optimized code `code` (tagged): its inlined functions (whose
 * records go first), inlining positions and source position table; of Sparkplug code, its
 * bytecodes (in place of the inlining positions) and its bytecode-offset table (in the source
 * position table's slot). Returns 0 when every
 * record is in the ring buffer; otherwise the code is not marked sent, and its next sample
 * sends it (and the functions that did not fit) again.
 */
static __always_inline int v8_emit_code(struct v8_walk_state *state, struct tandem_v8_layout *layout,
                                        struct v8_scratch *scratch, __u64 code, __u64 start, __u32 size,
                                        __u32 code_kind, __u32 fingerprint)
{
    __u32 flags = 0, inlined = 0;
    scratch->unsent = 0;
    __u64 data = 0, slots[3] = {}, positions = 0;
    int baseline = code_kind == layout->code_kind_baseline;
    if (baseline) {
        /* Sparkplug code: the slot holds its BytecodeArray, whose bytecodes the record carries
         * in place of inlining positions (its table maps machine code to them, docs/v8.md). */
        if (bpf_probe_read_user(&positions, sizeof(positions), (void *)(code - 1 + layout->code_deoptimization_data)))
            positions = 0;
    } else if (bpf_probe_read_user(&data, sizeof(data), (void *)(code - 1 + layout->code_deoptimization_data)) ||
        v8_type(layout, data) != layout->type_fixed_array ||
        bpf_probe_read_user(&slots[0], 8, (void *)(data - 1 + layout->fixed_array_data + 8 * (__u64)layout->deoptimization_inlined_count)) ||
        bpf_probe_read_user(&slots[1], 8, (void *)(data - 1 + layout->fixed_array_data + 8 * (__u64)layout->deoptimization_literal_array)) ||
        bpf_probe_read_user(&slots[2], 8, (void *)(data - 1 + layout->fixed_array_data + 8 * (__u64)layout->deoptimization_inlining_positions)) ||
        (slots[0] & 1)) {
        flags |= TANDEM_V8_CODE_DEOPTIMIZATION_DATA_UNREADABLE;
    } else {
        inlined = slots[0] >> 32;
        positions = slots[2];
        if (inlined > TANDEM_V8_MAX_INLINED) {
            inlined = TANDEM_V8_MAX_INLINED;
            flags |= TANDEM_V8_CODE_INLINED_CUT;
        }
        if (inlined > 0 && (v8_type(layout, slots[1]) != layout->type_weak_fixed_array ||
                            v8_array_length(layout, slots[1]) < inlined)) {
            inlined = 0;
            flags |= TANDEM_V8_CODE_DEOPTIMIZATION_DATA_UNREADABLE;
        }
    }
    if (inlined > 0) {
        struct v8_inlined_state loop = {
            .literals = slots[1] - 1 + layout->fixed_array_data, .generation = state->generation,
            .pid = state->pid, .layout = state->layout,
        };
        bpf_loop(inlined, v8_inlined_step, &loop, 0);
        if (loop.unreadable)
            flags |= TANDEM_V8_CODE_FUNCTION_UNREADABLE;
    }

    struct tandem_v8_code_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_V8_FUNCTION_RINGBUF_FULL);
        return -1;
    }
    struct tandem_v8_code_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_V8_FUNCTION;
    fields->pid = state->pid;
    fields->record = TANDEM_V8_RECORD_CODE;
    fields->layout = state->layout;
    fields->code = code;
    fields->instruction_start = start;
    fields->fingerprint = fingerprint;
    fields->instruction_size = size;
    fields->code_kind = code_kind;
    fields->reserved = 0;
    fields->reserved2 = 0;
    fields->inlined = inlined;
    if (bpf_probe_read_kernel(event->functions, sizeof(event->functions), scratch->inlined))
        fields->inlined = 0;

    long length = -1;
    __u64 data_offset = baseline ? layout->bytecode_array_data : layout->fixed_array_data;
    fields->positions_bytes = 0;
    if (inlined > 0 && v8_type(layout, positions) == layout->type_byte_array)
        length = v8_array_length(layout, positions);
    else if (baseline && v8_type(layout, positions) == layout->type_bytecode_array)
        length = v8_array_length(layout, positions);
    if (length > (long)sizeof(event->positions)) {
        length = sizeof(event->positions);
        flags |= TANDEM_V8_CODE_POSITIONS_CUT;
    }
    if ((inlined > 0 || baseline) && length < 0)
        flags |= TANDEM_V8_CODE_POSITIONS_UNREADABLE;
    if (length > 0 && length <= (long)sizeof(event->positions) &&
        !bpf_probe_read_user(event->positions, length, (void *)(positions - 1 + data_offset)))
        fields->positions_bytes = length;

    __u64 table = 0;
    length = -1;
    fields->table_bytes = 0;
    if (!bpf_probe_read_user(&table, sizeof(table), (void *)(code - 1 + layout->code_source_position_table)) &&
        v8_type(layout, table) == layout->type_byte_array)
        length = v8_array_length(layout, table);
    if (length > (long)sizeof(event->table)) {
        length = sizeof(event->table);
        flags |= TANDEM_V8_CODE_TABLE_CUT;
    }
    if (length < 0)
        flags |= TANDEM_V8_CODE_TABLE_UNREADABLE;
    if (length > 0 && length <= (long)sizeof(event->table) &&
        !bpf_probe_read_user(event->table, length, (void *)(table - 1 + layout->fixed_array_data)))
        fields->table_bytes = length;

    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_V8_FUNCTION_RECORDS);
    return scratch->unsent ? -1 : 0;
}

/* Records the JavaScript frame at `fp` running `function` (tagged), and sends its function
 * (and, for optimized code, its code record) once. */
static __always_inline void v8_js_frame(struct v8_walk_state *state, struct tandem_v8_layout *layout,
                                        struct v8_scratch *scratch, __u64 fp, __u64 function)
{
    __u16 kind = v8_type(layout, function);
    if (kind < layout->type_js_function_first || kind > layout->type_js_function_last)
        return;
    struct tandem_v8_walk *walk = &scratch->walk;
    __u32 count = walk->count;
    if (count >= TANDEM_V8_MAX_FRAMES) {
        walk->flags |= TANDEM_V8_WALK_TRUNCATED;
        return;
    }
    struct tandem_v8_frame *out = &walk->frames[count];
    walk->count = count + 1;
    out->pc = state->pc;
    out->sfi = 0;
    out->fingerprint = 0;
    out->offset = TANDEM_V8_NO_OFFSET;
    out->kind = TANDEM_V8_FRAME_COMPILED;
    out->code_kind = 0xff;
    out->flags = state->returned ? 0 : TANDEM_V8_FRAME_SAMPLED_PC;
    out->code_fingerprint = 0;

    __u64 sfi = 0;
    __u32 fingerprint = 0;
    if (!bpf_probe_read_user(&sfi, sizeof(sfi), (void *)(function - 1 + layout->js_function_shared)))
        fingerprint = v8_send_function(state->pid, state->layout, state->generation, layout, scratch, sfi,
                                       &scratch->unsent, 1);
    if (fingerprint == 0) {
        out->flags |= TANDEM_V8_FRAME_FUNCTION_UNREADABLE;
    } else {
        out->sfi = sfi;
        out->fingerprint = fingerprint;
    }

    __u64 code;
    if (bpf_probe_read_user(&code, sizeof(code), (void *)(function - 1 + layout->js_function_code)) ||
        v8_type(layout, code) != layout->type_code)
        return;
    __u32 code_flags = 0, size = 0;
    __u64 start = 0;
    bpf_probe_read_user(&code_flags, sizeof(code_flags), (void *)(code - 1 + layout->code_flags));
    bpf_probe_read_user(&start, sizeof(start), (void *)(code - 1 + layout->code_instruction_start));
    bpf_probe_read_user(&size, sizeof(size), (void *)(code - 1 + layout->code_instruction_size));
    __u32 code_kind = (code_flags & layout->code_kind_mask) >> (layout->code_kind_shift & 31);
    out->code_kind = code_kind;
    __u64 offset = 0;
    /* The function's code is a builtin (the interpreter entry) or bytecode: interpreted when
     * the frame's offset slot holds a Smi. */
    if (code_kind < layout->code_kind_baseline &&
        !bpf_probe_read_user(&offset, sizeof(offset), (void *)(fp - layout->fp_bytecode_offset)) &&
        (offset & 1) == 0 && (offset >> 32) >= (__u64)(layout->bytecode_array_data - 1)) {
        out->kind = TANDEM_V8_FRAME_INTERPRETED;
        out->offset = (offset >> 32) - (layout->bytecode_array_data - 1);
        return;
    }
    if (!(state->pc >= start && state->pc - start < size)) {
        out->flags |= TANDEM_V8_FRAME_PC_OUTSIDE_CODE;
        return;
    }
    out->offset = state->pc - start;
    if (code_kind < layout->code_kind_baseline || fingerprint == 0)
        return;

    /* Optimized code: its record names the functions inlined into it; Sparkplug code's maps
     * its machine code to its bytecode. Keyed by where its instructions start; the
     * fingerprint tells apart code objects placed there in turn. */
    __u64 data = 0, table = 0;
    bpf_probe_read_user(&data, sizeof(data), (void *)(code - 1 + layout->code_deoptimization_data));
    bpf_probe_read_user(&table, sizeof(table), (void *)(code - 1 + layout->code_source_position_table));
    __u64 mix = code ^ (data << 1) ^ (table << 2) ^ ((__u64)size << 40) ^ (__u64)sfi;
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 code_fingerprint = (mix >> 32) | 1;
    out->code_fingerprint = code_fingerprint;
    struct tandem_v8_code_key key = { .instruction_start = start, .pid = state->pid, .fingerprint = code_fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&v8_codes_sent, &key);
    if (sent && *sent == state->generation)
        return;
    if (v8_emit_code(state, layout, scratch, code, start, size, code_kind, code_fingerprint) == 0)
        bpf_map_update_elem(&v8_codes_sent, &key, &state->generation, BPF_ANY);
}

/*
 * One frame of the rbp chain (V8's generated code and node's C++ both keep frame pointers):
 * a frame whose context slot holds a heap object and whose function slot a JSFunction is a
 * JavaScript frame; a typed frame (a Smi marker there) or a C++ frame is passed over.
 */
static long v8_frame_step(__u64 index, struct v8_walk_state *state)
{
    __u32 zero = 0;
    struct v8_scratch *scratch = bpf_map_lookup_elem(&v8_scratch, &zero);
    struct tandem_v8_layout *layout = bpf_map_lookup_elem(&v8_layouts, &state->layout);
    if (!scratch || !layout)
        return 1;
    __u64 fp = state->fp;
    if (fp == 0) {
        state->done = 1;
        return 1;
    }
    __u64 saved[2];
    if ((fp & 7) || bpf_probe_read_user(saved, sizeof(saved), (void *)fp)) {
        scratch->walk.flags |= TANDEM_V8_WALK_READ_ERROR;
        return 1;
    }
    __u64 context, function;
    if (!bpf_probe_read_user(&context, sizeof(context), (void *)(fp - layout->fp_context)) && (context & 3) == 1 &&
        !bpf_probe_read_user(&function, sizeof(function), (void *)(fp - layout->fp_function)) && (function & 3) == 1)
        v8_js_frame(state, layout, scratch, fp, function);
    if (saved[0] != 0 && saved[0] <= fp)
        return 1; /* the caller's frame must be above: anything else is no chain */
    state->fp = saved[0];
    state->pc = saved[1];
    state->returned = 1;
    return 0;
}

/*
 * Walks the JavaScript frames of the current thread into the per-CPU scratch walk.
 * Returns the scratch walk, or 0 when the process has no checked V8.
 */
static __always_inline struct tandem_v8_walk *v8_walk(__u32 pid)
{
    struct tandem_v8_process *process = bpf_map_lookup_elem(&v8_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct v8_scratch *scratch = bpf_map_lookup_elem(&v8_scratch, &zero);
    struct tandem_v8_layout *layout = bpf_map_lookup_elem(&v8_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&v8_stream, &zero);
    if (!scratch || !layout || !generation || layout->version == 0)
        return 0;
    struct tandem_v8_walk *walk = &scratch->walk;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_V8_WALKS);

    struct pt_regs regs;
    struct task_struct *task = bpf_get_current_task_btf();
    if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)bpf_task_pt_regs(task)) || (regs.cs & 3) != 3) {
        walk->flags |= TANDEM_V8_WALK_READ_ERROR;
        return walk;
    }
    struct v8_walk_state state = {
        .fp = regs.rbp, .pc = regs.rip, .generation = *generation, .pid = pid, .layout = process->layout,
    };
    bpf_loop(TANDEM_V8_MAX_STEPS, v8_frame_step, &state, 0);
    if (!state.done)
        walk->flags |= TANDEM_V8_WALK_TRUNCATED;
    if (walk->count > 0)
        count(TANDEM_COUNTER_V8_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a V8 process: the sample (as fill_sample fills it), then its JavaScript frames. */
static __always_inline int emit_v8_sample(void *ctx, struct tandem_v8_walk *walk, int unwound,
                                          struct unwind_result *user)
{
    struct tandem_v8_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_V8_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_V8_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_v8_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
