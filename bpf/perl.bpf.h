/* ---- Perl frames (docs/perl.md, bpf/tandem_perl.h) ---- */
#include <bpf/bpf_core_read.h>

/* The sampler's per-release layouts, written once at load. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_PERL_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_perl_layout);
} perl_layouts SEC(".maps");

/* Processes whose interpreter the sampler checked (control record 25). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_PERL_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_perl_process);
} perl_processes SEC(".maps");

/* Subs (and main programs' file names) sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_perl_sub_key);
    __type(value, __u64);
} perl_subs_sent SEC(".maps");

/* [0]: the generation of the stream the sampler writes now (it bumps it per connection). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} perl_stream SEC(".maps");

/* The walk in progress: bpf_loop callbacks keep their frames here, not on the 512-byte stack. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tandem_perl_walk);
} perl_scratch SEC(".maps");

/* Bytes read at once from a context entry and from a CV's body: one read each, not one per field. */
#define PERL_COPY_BYTES 128

struct perl_copies {
    __u8 context[PERL_COPY_BYTES];
    __u8 body[PERL_COPY_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct perl_copies);
} perl_copies SEC(".maps");

/* The field at `offset` of a copy; 0 when the offset is past it (a layout the walker cannot use). */
static __always_inline __u64 perl_copied_u64(__u8 *copy, __u32 offset)
{
    if (offset > PERL_COPY_BYTES - 8)
        return 0;
    return *(__u64 *)(copy + offset);
}

static __always_inline __u32 perl_copied_u32(__u8 *copy, __u32 offset)
{
    if (offset > PERL_COPY_BYTES - 4)
        return 0;
    return *(__u32 *)(copy + offset);
}

/* Bytes to copy so that every listed field (8 bytes wide at most) is in the copy, or 0 when one is not. */
static __always_inline __u32 perl_span(__u32 a, __u32 b, __u32 c, __u32 d)
{
    __u32 end = a;
    if (b > end)
        end = b;
    if (c > end)
        end = c;
    if (d > end)
        end = d;
    end += 8;
    return end <= PERL_COPY_BYTES ? end : 0;
}

/* Copies `span` bytes (1 to PERL_COPY_BYTES, checked here where the verifier sees it) from `address`. */
static __always_inline int perl_copy(__u8 *copy, __u32 span, __u64 address)
{
    asm volatile("" : "+r"(span));
    if (span == 0 || span > PERL_COPY_BYTES)
        return -1;
    return bpf_probe_read_user(copy, span, (void *)address);
}

/* Only the field the walker needs; CO-RE finds it in the running kernel's task_struct. */
struct thread_struct___tandem_perl {
    unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct___tandem_perl {
    struct thread_struct___tandem_perl thread;
} __attribute__((preserve_access_index));

static __always_inline int perl_read_u64(__u64 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

static __always_inline int perl_read_u32(__u32 *value, __u64 address)
{
    return bpf_probe_read_user(value, sizeof(*value), (void *)address);
}

/* ---- Sub records ---- */

/*
 * Copies a HEK (hash, length, key) from its first byte, as long as its length says and at
 * most TANDEM_PERL_NAME_BYTES; returns the bytes copied, -1 when unreadable; *cut when cut.
 */
static __always_inline int perl_copy_hek(__u8 *destination, __u64 hek, struct tandem_perl_layout *layout, int *cut)
{
    __s32 length;
    if (hek == 0 || bpf_probe_read_user(&length, sizeof(length), (void *)(hek + layout->hek_length)))
        return -1;
    if (length < 0 || length > 0x100000)
        return -1;
    __u64 total = (__u64)layout->hek_key + (__u32)length;
    if (total > TANDEM_PERL_NAME_BYTES) {
        total = TANDEM_PERL_NAME_BYTES;
        *cut = 1;
    }
    if (total == 0 || total > TANDEM_PERL_NAME_BYTES)
        return -1;
    if (bpf_probe_read_user(destination, total, (void *)hek))
        return -1;
    return total;
}

/* Copies a NUL-terminated file name; returns the bytes before the NUL, -1 when unreadable; *cut when cut. */
static __always_inline int perl_copy_string(__u8 *destination, __u64 string, int *cut)
{
    if (string == 0)
        return -1;
    long copied = bpf_probe_read_user_str(destination, TANDEM_PERL_FILE_BYTES, (void *)string);
    if (copied <= 0)
        return -1;
    if (copied == TANDEM_PERL_FILE_BYTES && destination[TANDEM_PERL_FILE_BYTES - 1] == 0)
        *cut = 1;
    return copied - 1;
}

/* The name HEK of stash `stash` (HvNAME_HEK), or 0. */
static __always_inline __u64 perl_stash_name(__u64 stash, struct tandem_perl_layout *layout)
{
    __u32 flags;
    __u64 body, name;
    __s32 count;
    if (stash == 0 || perl_read_u32(&flags, stash + layout->sv_flags) ||
        (flags & TANDEM_PERL_SVT_MASK) != TANDEM_PERL_SVT_PVHV || !(flags & TANDEM_PERL_SVF_OOK) ||
        perl_read_u64(&body, stash + layout->sv_any) || body == 0)
        return 0;
    __u64 aux = body + layout->hv_aux;
    if (perl_read_u64(&name, aux + layout->aux_name) ||
        bpf_probe_read_user(&count, sizeof(count), (void *)(aux + layout->aux_name_count)))
        return 0;
    /* With a count, the field points to an array of HEKs whose first is the name. */
    if (count != 0 && (name == 0 || perl_read_u64(&name, name)))
        return 0;
    return name;
}

/*
 * What a sub record is made of: its name HEK (GvNAME of CvGV, or the CV's own HEK for a
 * lexical sub), its package's stash (GvSTASH, or CvSTASH), and its file name (CvFILE).
 */
struct perl_sub_pointers {
    __u64 name;
    __u64 stash;
    __u64 file;
    __u64 gv;            /* CvGV, or the name HEK when named */
    __u32 named;
};

/*
 * Reads `cv` (its head, then its body in one copy) into `out`, except the GV's fields (read
 * only for a record). Returns the fingerprint: a mix of the body's stash, GV, file and flags,
 * so that a CV freed and another allocated at its address gets another key; 0 when the CV is
 * not readable as one.
 */
static __always_inline __u32 perl_sub_pointers(__u64 cv, struct tandem_perl_layout *layout,
                                               struct perl_sub_pointers *out, __u8 *body_copy)
{
    __u32 flags;
    __u64 body;
    __u32 span = perl_span(layout->cv_stash, layout->cv_gv, layout->cv_file, layout->cv_flags);
    if (cv == 0 || span == 0 || perl_read_u32(&flags, cv + layout->sv_flags) ||
        (flags & TANDEM_PERL_SVT_MASK) != TANDEM_PERL_SVT_PVCV || perl_read_u64(&body, cv + layout->sv_any) ||
        body == 0 || perl_copy(body_copy, span, body))
        return 0;
    __u32 cv_flags = perl_copied_u32(body_copy, layout->cv_flags);
    out->gv = perl_copied_u64(body_copy, layout->cv_gv);
    out->file = perl_copied_u64(body_copy, layout->cv_file);
    out->stash = perl_copied_u64(body_copy, layout->cv_stash);
    out->named = (cv_flags & TANDEM_PERL_CVF_NAMED) != 0;
    out->name = out->named ? out->gv : 0;
    __u64 mix = out->gv ^ (out->stash << 1) ^ (out->file << 2) ^ cv_flags;
    mix *= 0x9E3779B97F4A7C15ULL;
    __u32 fingerprint = mix >> 32;
    return fingerprint ? fingerprint : 1;
}

/* For a sub with a GV: its name HEK and its package's stash, from the GV. */
static __always_inline void perl_read_gv(struct perl_sub_pointers *pointers, struct tandem_perl_layout *layout)
{
    __u32 flags;
    __u64 gv_body;
    if (pointers->named || pointers->gv == 0)
        return;
    pointers->stash = 0;
    if (perl_read_u32(&flags, pointers->gv + layout->sv_flags) ||
        (flags & TANDEM_PERL_SVT_MASK) != TANDEM_PERL_SVT_PVGV ||
        perl_read_u64(&gv_body, pointers->gv + layout->sv_any) || gv_body == 0)
        return;
    perl_read_u64(&pointers->name, gv_body + layout->gv_name);
    perl_read_u64(&pointers->stash, gv_body + layout->gv_stash);
}

/* Emits the record of a sub (or, with TANDEM_PERL_SUB_MAIN, of a main program's file). 0: in the ring buffer. */
static __always_inline int perl_emit_sub(__u32 pid, __u64 address, __u32 fingerprint, __u32 layout_index,
                                         struct tandem_perl_layout *layout, struct perl_sub_pointers *pointers,
                                         __u32 main)
{
    struct tandem_perl_sub_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_PERL_SUB_RINGBUF_FULL);
        return -1;
    }
    struct tandem_perl_sub_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_PERL_SUB;
    fields->pid = pid;
    fields->address = address;
    fields->fingerprint = fingerprint;
    fields->layout = layout_index;
    fields->reserved[0] = fields->reserved[1] = fields->reserved[2] = 0;
    __u32 flags = main ? TANDEM_PERL_SUB_MAIN : 0;
    int cut = 0, copied;

    fields->name_bytes = 0;
    fields->package_bytes = 0;
    if (!main) {
        perl_read_gv(pointers, layout);
        copied = perl_copy_hek(event->name, pointers->name, layout, &cut);
        fields->name_bytes = copied < 0 ? 0 : copied;
        flags |= copied < 0 ? TANDEM_PERL_SUB_NAME_UNREADABLE : (cut ? TANDEM_PERL_SUB_NAME_CUT : 0);
        cut = 0;
        copied = perl_copy_hek(event->package, perl_stash_name(pointers->stash, layout), layout, &cut);
        fields->package_bytes = copied < 0 ? 0 : copied;
        flags |= copied < 0 ? TANDEM_PERL_SUB_PACKAGE_UNREADABLE : (cut ? TANDEM_PERL_SUB_PACKAGE_CUT : 0);
    }
    cut = 0;
    copied = perl_copy_string(event->file, pointers->file, &cut);
    fields->file_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_PERL_SUB_FILE_UNREADABLE : (cut ? TANDEM_PERL_SUB_FILE_CUT : 0);

    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_PERL_SUB_RECORDS);
    return 0;
}

/* Sends the record of (address, fingerprint) unless this stream has it already. */
static __always_inline void perl_send_once(__u32 pid, __u64 address, __u32 fingerprint, __u64 generation,
                                           __u32 layout_index, struct tandem_perl_layout *layout,
                                           struct perl_sub_pointers *pointers, __u32 main)
{
    struct tandem_perl_sub_key key = { .address = address, .pid = pid, .fingerprint = fingerprint };
    __u64 *sent = bpf_map_lookup_elem(&perl_subs_sent, &key);
    if (sent && *sent == generation)
        return;
    if (perl_emit_sub(pid, address, fingerprint, layout_index, layout, pointers, main) == 0)
        bpf_map_update_elem(&perl_subs_sent, &key, &generation, BPF_ANY);
}

/* ---- Walking the context stacks ---- */

struct perl_walk_state {
    __u64 stackinfo;     /* the runlevel being walked */
    __u64 base;          /* its si_cxstack */
    __u64 context;       /* the context entry to look at next; below base: the runlevel is done */
    __u64 cop;           /* the statement of the innermost frame not yet emitted (0: none pending) */
    __u64 generation;
    __u32 pid;
    __u32 layout;
    __u32 stackinfos;    /* runlevels entered so far */
    __u32 done;
};

/* Appends a frame; returns it, or 0 when the walk is full (flagged). */
static __always_inline struct tandem_perl_frame *perl_push(struct tandem_perl_walk *walk)
{
    __u32 count = walk->count;
    if (count >= TANDEM_PERL_MAX_FRAMES) {
        walk->flags |= TANDEM_PERL_WALK_TRUNCATED;
        return 0;
    }
    struct tandem_perl_frame *frame = &walk->frames[count];
    walk->count = count + 1;
    frame->address = 0;
    frame->fingerprint = 0;
    frame->line = 0;
    frame->flags = 0;
    frame->reserved = 0;
    return frame;
}

static __always_inline __u32 perl_cop_line(__u64 cop, struct tandem_perl_layout *layout)
{
    __u32 line = 0;
    if (cop)
        perl_read_u32(&line, cop + layout->cop_line);
    return line;
}

/* Points the state at the top context of runlevel state->stackinfo. Returns 0, or -1 when unreadable. */
static __always_inline int perl_enter_stackinfo(struct perl_walk_state *state, struct tandem_perl_layout *layout)
{
    __s32 index;
    if (perl_read_u64(&state->base, state->stackinfo + layout->stackinfo_cxstack) ||
        bpf_probe_read_user(&index, sizeof(index), (void *)(state->stackinfo + layout->stackinfo_cxix)) ||
        index < -1 || index > 0xffffff)
        return -1;
    state->context = state->base + (__s64)index * layout->context_size;
    state->stackinfos++;
    return 0;
}

/* A runlevel ended: its outermost frame is where its runloop started; then the next outer runlevel. */
static __always_inline long perl_leave_stackinfo(struct perl_walk_state *state, struct tandem_perl_walk *walk,
                                                 struct tandem_perl_layout *layout)
{
    __s32 type = 0;
    int failed = bpf_probe_read_user(&type, sizeof(type), (void *)(state->stackinfo + layout->stackinfo_type));
    if (!failed && type == TANDEM_PERL_PERLSI_MAIN && state->cop) {
        /* Code outside any sub: the main program, named by its file. */
        __u64 file = 0;
        struct tandem_perl_frame *frame = perl_push(walk);
        if (frame) {
            frame->line = perl_cop_line(state->cop, layout);
            frame->flags = TANDEM_PERL_FRAME_MAIN;
            if (!perl_read_u64(&file, state->cop + layout->cop_file) && file) {
                __u64 head = 0;
                bpf_probe_read_user(&head, sizeof(head), (void *)file);
                __u32 fingerprint = ((file ^ head) * 0x9E3779B97F4A7C15ULL) >> 32;
                frame->address = file;
                frame->fingerprint = fingerprint ? fingerprint : 1;
                struct perl_sub_pointers pointers = { .file = file };
                struct tandem_perl_layout *checked = bpf_map_lookup_elem(&perl_layouts, &state->layout);
                if (checked)
                    perl_send_once(state->pid, file, frame->fingerprint, state->generation, state->layout, checked,
                                   &pointers, 1);
            } else {
                frame->flags |= TANDEM_PERL_FRAME_UNREADABLE;
            }
        }
        state->cop = 0;
    }
    __u32 last = walk->count - 1;
    if (last < TANDEM_PERL_MAX_FRAMES)
        walk->frames[last].flags |= TANDEM_PERL_FRAME_ENTRY;
    /* An inner runlevel's pending statement (a sort block's) stays the line of the sub around it. */
    if (failed) {
        walk->flags |= TANDEM_PERL_WALK_READ_ERROR | TANDEM_PERL_WALK_TRUNCATED;
        return 1;
    }
    if (type == TANDEM_PERL_PERLSI_MAIN) {
        state->done = 1;
        return 1;
    }
    if (state->stackinfos >= TANDEM_PERL_MAX_STACKINFOS) {
        walk->flags |= TANDEM_PERL_WALK_TRUNCATED;
        return 1;
    }
    if (perl_read_u64(&state->stackinfo, state->stackinfo + layout->stackinfo_prev) || state->stackinfo == 0) {
        state->done = state->stackinfo == 0;
        return 1;
    }
    if (perl_enter_stackinfo(state, layout)) {
        walk->flags |= TANDEM_PERL_WALK_READ_ERROR | TANDEM_PERL_WALK_TRUNCATED;
        return 1;
    }
    return 0;
}

static long perl_context_step(__u64 index, struct perl_walk_state *state)
{
    __u32 zero = 0;
    struct tandem_perl_walk *walk = bpf_map_lookup_elem(&perl_scratch, &zero);
    struct tandem_perl_layout *layout = bpf_map_lookup_elem(&perl_layouts, &state->layout);
    if (!walk || !layout)
        return 1;
    if (state->context < state->base)
        return perl_leave_stackinfo(state, walk, layout);

    struct perl_copies *copies = bpf_map_lookup_elem(&perl_copies, &zero);
    if (!copies)
        return 1;
    __u64 context = state->context;
    state->context = context - layout->context_size;
    __u32 span = perl_span(layout->context_type, layout->context_oldcop, layout->context_sub_cv,
                           layout->context_sub_retop);
    if (perl_copy(copies->context, span, context)) {
        /* The top entry may be in the making (index raised first, filled after): skip it. */
        walk->flags |= TANDEM_PERL_WALK_READ_ERROR;
        return 0;
    }
    __u8 type = 0;
    if (layout->context_type < PERL_COPY_BYTES)
        type = copies->context[layout->context_type];
    __u32 kind = type & TANDEM_PERL_CXTYPEMASK;
    int sub = (kind == TANDEM_PERL_CXT_SUB || kind == TANDEM_PERL_CXT_FORMAT) && !(type & TANDEM_PERL_CXP_SUB_RE_FAKE);
    if (!sub && kind != TANDEM_PERL_CXT_EVAL)
        return 0;

    struct tandem_perl_frame *frame = perl_push(walk);
    if (!frame)
        return 1;
    frame->line = perl_cop_line(state->cop, layout);
    /* The caller's statement: the line of the next frame out. */
    state->cop = perl_copied_u64(copies->context, layout->context_oldcop);
    if (!sub) {
        frame->flags = TANDEM_PERL_FRAME_EVAL;
        return 0;
    }
    __u64 cv = perl_copied_u64(copies->context, layout->context_sub_cv);
    __u64 return_op = perl_copied_u64(copies->context, layout->context_sub_retop);
    /* Called from C (call_sv: sort, overloading, XS): the sub runs in a runloop of its own. */
    if (return_op == 0)
        frame->flags |= TANDEM_PERL_FRAME_ENTRY;
    struct perl_sub_pointers pointers = {};
    __u32 fingerprint = perl_sub_pointers(cv, layout, &pointers, copies->body);
    frame->address = cv;
    if (fingerprint == 0) {
        frame->flags |= TANDEM_PERL_FRAME_UNREADABLE;
        return 0;
    }
    frame->fingerprint = fingerprint;
    perl_send_once(state->pid, cv, fingerprint, state->generation, state->layout, layout, &pointers, 0);
    return 0;
}

/*
 * Walks the Perl frames of the current thread into the per-CPU scratch walk.
 * Returns the scratch walk, or 0 when the process has no checked interpreter.
 */
static __always_inline struct tandem_perl_walk *perl_walk(__u32 pid)
{
    struct tandem_perl_process *process = bpf_map_lookup_elem(&perl_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct tandem_perl_walk *walk = bpf_map_lookup_elem(&perl_scratch, &zero);
    struct tandem_perl_layout *layout = bpf_map_lookup_elem(&perl_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&perl_stream, &zero);
    if (!walk || !layout || !generation || layout->version == 0)
        return 0;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_PERL_WALKS);

    /* The thread's interpreter: its pthread key data for PL_thr_key (glibc's first block). */
    struct task_struct___tandem_perl *task = (void *)bpf_get_current_task_btf();
    __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
    __u32 key;
    __u64 interpreter = 0;
    if (perl_read_u32(&key, process->thread_key_address) || key >= TANDEM_PERL_GLIBC_FIRST_BLOCK_KEYS ||
        fsbase == 0 ||
        perl_read_u64(&interpreter, fsbase + TANDEM_PERL_GLIBC_KEY_DATA + (__u64)key * TANDEM_PERL_GLIBC_KEY_STRIDE) ||
        interpreter == 0) {
        walk->flags |= TANDEM_PERL_WALK_NO_THREAD;
        return walk;
    }
    struct perl_walk_state state = { .generation = *generation, .pid = pid, .layout = process->layout };
    if (perl_read_u64(&state.stackinfo, interpreter + layout->interpreter_curstackinfo) || state.stackinfo == 0 ||
        perl_read_u64(&state.cop, interpreter + layout->interpreter_curcop) ||
        perl_enter_stackinfo(&state, layout)) {
        walk->flags |= TANDEM_PERL_WALK_READ_ERROR;
        return walk;
    }
    bpf_loop(TANDEM_PERL_MAX_CONTEXTS, perl_context_step, &state, 0);
    if (!state.done)
        walk->flags |= TANDEM_PERL_WALK_TRUNCATED;
    if (walk->count > 0)
        count(TANDEM_COUNTER_PERL_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a Perl process: the sample (as fill_sample fills it), then its Perl frames. */
static __always_inline int emit_perl_sample(void *ctx, struct tandem_perl_walk *walk, int unwound,
                                            struct unwind_result *user)
{
    struct tandem_perl_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_PERL_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_PERL_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_perl_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
