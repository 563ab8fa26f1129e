/*
 * The HotSpot JVM walker's records (docs/jvm.md), in the JVM walker's object only
 * (jvm_walker.bpf.c): ahead of a sample with Java frames, each method and each nmethod its
 * frames name for the first time in this stream, then the sample with those frames.
 *
 *   - method record: bounded copies of the method's ConstMethod header, its class's and its
 *     own name Symbols, its source file Symbol and its compressed line table;
 *   - code record (a compiled frame's nmethod): bounded copies of its PcDesc array, its scopes
 *     data and its metadata array, and a method record for each Method * of that array (the
 *     methods inlined into it). Which metadata is a Method * is told by its C++ vtable
 *     pointer, the one of the nmethod's own Method: a Klass has another.
 *
 * Nothing is parsed here: the aggregator decodes pc offset → PcDesc → scopes (HotSpotScopes).
 */

/* Copies the Symbol at `symbol`: its header and at most the bound of its body. Returns bytes copied, -1 unreadable. */
static __always_inline int hotspot_copy_symbol(__u8 *out, __u64 symbol, struct tandem_hotspot_layout *layout)
{
    __u16 length;
    if (symbol == 0 || hotspot_read_u16(&length, symbol + layout->symbol_length))
        return -1;
    __u64 size = (__u64)layout->symbol_body + length;
    if (size > TANDEM_HOTSPOT_SYMBOL_BYTES)
        size = TANDEM_HOTSPOT_SYMBOL_BYTES;
    asm volatile("" : "+r"(size));
    if (size == 0 || size > TANDEM_HOTSPOT_SYMBOL_BYTES || bpf_probe_read_user(out, size, (void *)symbol))
        return -1;
    return size;
}

/*
 * Emits the method record of (`method`, `fingerprint`) of process `pid_layout >> 32` (read with
 * layout `(__u32)pid_layout`) unless stream `generation` has it. Returns 0 when the stream has
 * it, -1 when it was lost. A global function: verified once, called from the frames' loop and
 * from a code record's metadata loop.
 */
__attribute__((noinline)) int hotspot_send_method(__u64 pid_layout, __u64 method, __u64 fingerprint, __u64 generation)
{
    __u32 pid = pid_layout >> 32;
    __u32 layout_index = (__u32)pid_layout;
    struct tandem_hotspot_layout *layout = bpf_map_lookup_elem(&hotspot_layouts, &layout_index);
    if (!layout)
        return -1;
    if (method == 0 || (__u32)fingerprint == 0)
        return 0;
    struct tandem_hotspot_method_key key = { .method = method, .pid = pid, .fingerprint = (__u32)fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&hotspot_methods_sent, &key);
    if (sent && *sent == generation)
        return 0;

    struct tandem_hotspot_method_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_HOTSPOT_RINGBUF_FULL);
        return -1;
    }
    struct tandem_hotspot_method_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_HOTSPOT_METHOD;
    fields->pid = pid;
    fields->method = method;
    fields->fingerprint = (__u32)fingerprint;
    fields->layout = layout_index;
    fields->record = TANDEM_HOTSPOT_RECORD_METHOD;
    __u32 flags = 0;
    __u64 const_method = 0, pool = 0, holder = 0, klass_name = 0, method_name = 0, source_file = 0;
    __u16 name_index = 0, source_index = 0, code_size = 0;
    __s32 size_words = 0;
    read_user_u64(&const_method, method + layout->method_const_method);
    if (bpf_probe_read_user(event->const_method, TANDEM_HOTSPOT_CONST_METHOD_BYTES, (void *)const_method)) {
        fields->const_method_bytes = 0;
        flags |= TANDEM_HOTSPOT_CLASS_NAME_UNREADABLE | TANDEM_HOTSPOT_METHOD_NAME_UNREADABLE;
    } else {
        fields->const_method_bytes = TANDEM_HOTSPOT_CONST_METHOD_BYTES;
        read_user_u64(&pool, const_method + layout->const_method_constants);
        hotspot_read_u16(&name_index, const_method + layout->const_method_name_index);
        hotspot_read_u16(&code_size, const_method + layout->const_method_code_size);
        hotspot_read_s32(&size_words, const_method + layout->const_method_size_words);
        read_user_u64(&holder, pool + layout->constant_pool_pool_holder);
        read_user_u64(&klass_name, holder + layout->klass_name);
        read_user_u64(&method_name, pool + layout->constant_pool_size + 8 * (__u64)name_index);
        hotspot_read_u16(&source_index, pool + layout->constant_pool_source_file);
        if (source_index)
            read_user_u64(&source_file, pool + layout->constant_pool_size + 8 * (__u64)source_index);
    }
    int copied = hotspot_copy_symbol(event->class_name, klass_name, layout);
    fields->class_name_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_HOTSPOT_CLASS_NAME_UNREADABLE : 0;
    copied = hotspot_copy_symbol(event->method_name, method_name, layout);
    fields->method_name_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_HOTSPOT_METHOD_NAME_UNREADABLE : 0;
    copied = source_index ? hotspot_copy_symbol(event->source_file, source_file, layout) : 0;
    fields->source_file_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_HOTSPOT_SOURCE_FILE_UNREADABLE : 0;

    /* The line table: after the bytecode, to the ConstMethod's end, at most its bound. */
    __u64 start = (__u64)layout->const_method_size + code_size;
    __u64 end = size_words > 0 ? 8 * (__u64)size_words : 0;
    __u64 line_bytes = end > start ? end - start : 0;
    if (line_bytes > TANDEM_HOTSPOT_LINE_TABLE_BYTES)
        line_bytes = TANDEM_HOTSPOT_LINE_TABLE_BYTES;
    /* Keeps the compiler from folding the bound into a form the verifier cannot follow. */
    asm volatile("" : "+r"(line_bytes));
    if (line_bytes > 0 && line_bytes <= TANDEM_HOTSPOT_LINE_TABLE_BYTES &&
        bpf_probe_read_user(event->line_table, line_bytes, (void *)(const_method + start))) {
        flags |= TANDEM_HOTSPOT_LINE_TABLE_UNREADABLE;
        line_bytes = 0;
    }
    fields->line_table_bytes = line_bytes;
    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_HOTSPOT_METHODS);
    bpf_map_update_elem(&hotspot_methods_sent, &key, &generation, BPF_ANY);
    return 0;
}

/* The bytes from `begin` to `end`, at most `bound`; *cut is set when the bound cut them. */
static __always_inline __u64 hotspot_span(__u64 begin, __u64 end, __u64 bound, int *cut)
{
    __u64 bytes = end > begin ? end - begin : 0;
    if (bytes > bound) {
        bytes = bound;
        *cut = 1;
    }
    return bytes;
}

/*
 * Emits the code record of nmethod `code` (its fingerprint in the high half of
 * `fingerprints`, its own Method *'s in the low half) and the method records of the Method *s
 * of its metadata, unless stream `generation` has it. Returns 0 when the stream has it, -1
 * when it (or one of its methods) was lost: the next sample sends it again.
 */
__attribute__((noinline)) int hotspot_send_code(__u64 pid_layout, __u64 code, __u64 method, __u64 fingerprints,
                                                __u64 generation)
{
    __u32 pid = pid_layout >> 32;
    __u32 layout_index = (__u32)pid_layout;
    struct tandem_hotspot_layout *layout = bpf_map_lookup_elem(&hotspot_layouts, &layout_index);
    if (!layout)
        return -1;
    struct tandem_hotspot_method_key key = { .method = code, .pid = pid, .fingerprint = fingerprints >> 32 };
    __u64 *sent = bpf_map_lookup_elem(&hotspot_codes_sent, &key);
    if (sent && *sent == generation)
        return 0;
    struct tandem_hotspot_code_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_HOTSPOT_RINGBUF_FULL);
        return -1;
    }
    struct tandem_hotspot_code_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_HOTSPOT_METHOD;
    fields->pid = pid;
    fields->code = code;
    fields->fingerprint = fingerprints >> 32;
    fields->layout = layout_index;
    fields->record = TANDEM_HOTSPOT_RECORD_CODE;
    fields->method = method;
    fields->method_fingerprint = (__u32)fingerprints;
    fields->reserved[0] = 0;
    fields->reserved[1] = 0;
    fields->reserved2 = 0;

    /* nmethod (JDK 17): ... metadata | scopes data | PcDescs | dependencies ... */
    __u32 flags = 0;
    __s32 metadata_offset = 0, pcs_offset = 0, dependencies_offset = 0;
    __u64 scopes_begin = 0;
    if (hotspot_read_s32(&metadata_offset, code + layout->nmethod_metadata_offset) ||
        hotspot_read_s32(&pcs_offset, code + layout->nmethod_scopes_pcs_offset) ||
        hotspot_read_s32(&dependencies_offset, code + layout->nmethod_dependencies_offset) ||
        read_user_u64(&scopes_begin, code + layout->compiled_method_scopes_data) || metadata_offset <= 0 ||
        pcs_offset <= 0 || dependencies_offset <= 0) {
        flags |= TANDEM_HOTSPOT_CODE_UNREADABLE;
        metadata_offset = pcs_offset = dependencies_offset = 0;
        scopes_begin = code;
    }
    int cut = 0;
    __u64 bytes = hotspot_span(code + pcs_offset, code + dependencies_offset, TANDEM_HOTSPOT_PC_DESC_BYTES, &cut);
    flags |= cut ? TANDEM_HOTSPOT_PC_DESCS_CUT : 0;
    /* Keeps the compiler from folding the bound into a form the verifier cannot follow. */
    asm volatile("" : "+r"(bytes));
    if (bytes > 0 && bytes <= TANDEM_HOTSPOT_PC_DESC_BYTES &&
        bpf_probe_read_user(event->pc_descs, bytes, (void *)(code + pcs_offset))) {
        flags |= TANDEM_HOTSPOT_CODE_UNREADABLE;
        bytes = 0;
    }
    fields->pc_desc_bytes = bytes;

    cut = 0;
    bytes = hotspot_span(scopes_begin, code + pcs_offset, TANDEM_HOTSPOT_SCOPES_BYTES, &cut);
    flags |= cut ? TANDEM_HOTSPOT_SCOPES_CUT : 0;
    asm volatile("" : "+r"(bytes));
    if (bytes > 0 && bytes <= TANDEM_HOTSPOT_SCOPES_BYTES &&
        bpf_probe_read_user(event->scopes, bytes, (void *)scopes_begin)) {
        flags |= TANDEM_HOTSPOT_CODE_UNREADABLE;
        bytes = 0;
    }
    fields->scopes_bytes = bytes;

    cut = 0;
    bytes = hotspot_span(code + metadata_offset, scopes_begin, 8 * TANDEM_HOTSPOT_METADATA_ENTRIES, &cut) & ~7ULL;
    flags |= cut ? TANDEM_HOTSPOT_METADATA_CUT : 0;
    asm volatile("" : "+r"(bytes));
    if (bytes > 0 && bytes <= 8 * TANDEM_HOTSPOT_METADATA_ENTRIES &&
        bpf_probe_read_user(event->metadata, bytes, (void *)(code + metadata_offset))) {
        flags |= TANDEM_HOTSPOT_CODE_UNREADABLE;
        bytes = 0;
    }
    __u32 entries = bytes / 8;
    fields->metadata_entries = entries;
    fields->flags = flags;

    /* The Method *s among the metadata (the methods inlined here, and others it names): their records. */
    int lost = 0;
    __u64 method_vtable = 0;
    read_user_u64(&method_vtable, method);
    for (__u32 i = 0; i < TANDEM_HOTSPOT_METADATA_ENTRIES; i++) {
        if (i >= entries)
            break;
        __u64 entry = event->metadata[i], vtable = 0;
        __u32 fingerprint = 0;
        if (entry != 0 && method_vtable != 0 && !read_user_u64(&vtable, entry) && vtable == method_vtable) {
            fingerprint = hotspot_fingerprint(layout, entry);
            if (hotspot_send_method(pid_layout, entry, fingerprint, generation))
                lost = 1;
        }
        event->metadata_fingerprints[i] = fingerprint;
    }
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    if (!lost)
        bpf_map_update_elem(&hotspot_codes_sent, &key, &generation, BPF_ANY);
    return lost ? -1 : 0;
}

struct hotspot_emit_state {
    __u64 generation;
    __u32 pid;
    __u32 layout;
};

/*
 * Emits the records Java frame `index` names that this stream lacks: its method's, and for a
 * compiled frame its nmethod's (whose fingerprint the frame then carries; 0 when the code
 * record was lost, so that the frame is still named by its own method).
 */
static long hotspot_emit_records(__u64 index, struct hotspot_emit_state *state)
{
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    struct tandem_hotspot_layout *layout = bpf_map_lookup_elem(&hotspot_layouts, &state->layout);
    struct tandem_hotspot_walk *walk = scratch ? &scratch->walk : 0;
    if (!walk || !layout || index >= walk->count || index >= TANDEM_HOTSPOT_MAX_FRAMES)
        return 1;
    struct tandem_hotspot_frame *frame = &walk->frames[index];
    __u64 pid_layout = (__u64)state->pid << 32 | state->layout;
    hotspot_send_method(pid_layout, frame->method, frame->fingerprint, state->generation);
    frame->code_fingerprint = 0;
    __s32 compile_id;
    if (frame->kind != TANDEM_HOTSPOT_COMPILED || frame->code == 0 || frame->method == 0 || frame->fingerprint == 0 ||
        hotspot_read_s32(&compile_id, frame->code + layout->nmethod_compile_id))
        return 0;
    /* A freed nmethod's memory reused by another compilation gets another key. */
    __u64 mix = (frame->code >> 3) ^ ((__u64)(__u32)compile_id << 32);
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 code_fingerprint = (__u32)(mix >> 32) | 1;
    if (hotspot_send_code(pid_layout, frame->code, frame->method, (__u64)code_fingerprint << 32 | frame->fingerprint,
                          state->generation) == 0)
        frame->code_fingerprint = code_fingerprint;
    return 0;
}

/* A sample of a JVM process whose walk found Java frames: the sample, then those frames. */
struct tandem_hotspot_sample_event {
    struct tandem_sample_event sample;
    struct tandem_hotspot_walk walk;
};

/* Emits the records the sample needs (ahead of it), then the sample and its Java frames. */
static __always_inline int emit_hotspot_sample(void *ctx, __u32 pid, int unwound, struct unwind_result *user)
{
    __u32 zero = 0;
    struct tandem_hotspot_process *process = bpf_map_lookup_elem(&hotspot_processes, &pid);
    __u64 *generation = bpf_map_lookup_elem(&hotspot_stream, &zero);
    if (process && generation) {
        struct hotspot_emit_state state = { .generation = *generation, .pid = pid, .layout = process->layout };
        bpf_loop(TANDEM_HOTSPOT_MAX_FRAMES, hotspot_emit_records, &state, 0);
    }
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    if (!scratch)
        return 0;
    struct tandem_hotspot_walk *walk = &scratch->walk;
    struct tandem_hotspot_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_HOTSPOT_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_HOTSPOT_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_hotspot_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
