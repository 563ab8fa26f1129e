/*
 * The HotSpot JVM walker's maps and records (docs/jvm.md): the sampling object includes it
 * for the maps (each shared by name with the JVM walker's object, and written by
 * HotSpotLoading), the walker's object for the records too: each new method of a sample's
 * Java frames once per stream, then the sample with those frames. The frames come from the
 * walker's own table unwinder (hotspot_unwind.bpf.h).
 */
#include "tandem_hotspot.h"
#include "walker_common.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_HOTSPOT_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_layout);
} hotspot_layouts SEC(".maps");

/* pid → the process's checked statics (written by HotSpotLoading from control record 21). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_HOTSPOT_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_process);
} hotspot_processes SEC(".maps");

/* Methods sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_hotspot_method_key);
    __type(value, __u64);
} hotspot_methods_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} hotspot_stream SEC(".maps");

/* The Java frames of the walk in progress on this CPU. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tandem_hotspot_scratch);
} hotspot_scratch SEC(".maps");

static __always_inline int hotspot_read_s32(__s32 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

static __always_inline int hotspot_read_u16(__u16 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

/* ---- Method records ---- */

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

struct hotspot_emit_state {
    __u64 generation;
    __u32 pid;
    __u32 layout;
};

/* Emits the method record of Java frame `index` unless this stream has it. */
static long hotspot_emit_method(__u64 index, struct hotspot_emit_state *state)
{
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    struct tandem_hotspot_layout *layout = bpf_map_lookup_elem(&hotspot_layouts, &state->layout);
    struct tandem_hotspot_walk *walk = scratch ? &scratch->walk : 0;
    if (!walk || !layout || index >= walk->count || index >= TANDEM_HOTSPOT_MAX_FRAMES)
        return 1;
    struct tandem_hotspot_frame *frame = &walk->frames[index];
    if (frame->method == 0 || frame->fingerprint == 0)
        return 0;
    struct tandem_hotspot_method_key key = { .method = frame->method, .pid = state->pid, .fingerprint = frame->fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&hotspot_methods_sent, &key);
    if (sent && *sent == state->generation)
        return 0;

    struct tandem_hotspot_method_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_HOTSPOT_RINGBUF_FULL);
        return 0;
    }
    struct tandem_hotspot_method_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_HOTSPOT_METHOD;
    fields->pid = state->pid;
    fields->method = frame->method;
    fields->fingerprint = frame->fingerprint;
    fields->layout = state->layout;
    fields->reserved = 0;
    __u32 flags = 0;
    __u64 const_method = 0, pool = 0, holder = 0, klass_name = 0, method_name = 0, source_file = 0;
    __u16 name_index = 0, source_index = 0, code_size = 0;
    __s32 size_words = 0;
    read_user_u64(&const_method, frame->method + layout->method_const_method);
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
    bpf_map_update_elem(&hotspot_methods_sent, &key, &state->generation, BPF_ANY);
    return 0;
}

/* A sample of a JVM process whose walk found Java frames: the sample, then those frames. */
struct tandem_hotspot_sample_event {
    struct tandem_sample_event sample;
    struct tandem_hotspot_walk walk;
};

/* Emits the method records the sample needs (ahead of it), then the sample and its Java frames. */
static __always_inline int emit_hotspot_sample(void *ctx, __u32 pid, int unwound, struct unwind_result *user)
{
    __u32 zero = 0;
    struct tandem_hotspot_process *process = bpf_map_lookup_elem(&hotspot_processes, &pid);
    __u64 *generation = bpf_map_lookup_elem(&hotspot_stream, &zero);
    if (process && generation) {
        struct hotspot_emit_state state = { .generation = *generation, .pid = pid, .layout = process->layout };
        bpf_loop(TANDEM_HOTSPOT_MAX_FRAMES, hotspot_emit_method, &state, 0);
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
