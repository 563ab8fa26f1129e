/* ---- Erlang/BEAM frames (docs/beam.md, bpf/tandem_beam.h) ---- */
#include "walker_common.bpf.h"

/* The sampler's per-ERTS-major layouts, written once at load. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TANDEM_BEAM_MAX_LAYOUTS);
    __type(key, __u32);
    __type(value, struct tandem_beam_layout);
} beam_layouts SEC(".maps");

/* VMs whose addresses the sampler checked (control record 31). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_BEAM_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_beam_process);
} beam_processes SEC(".maps");

/* Functions sent, with the stream generation they were sent in. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct tandem_beam_function_key);
    __type(value, __u64);
} beam_functions_sent SEC(".maps");

/*
 * What beam_resolve found for a pc, by VM (its loader-given instance) and active code index:
 * a loop's few call sites and pcs are resolved once, not by two binary searches (about 16
 * reads) per sample. A code load switches the active index, so lookups under the new one
 * miss; an entry can only be stale when a module's code was purged and another's put at the
 * same pc while the index came round to the same value (docs/beam.md, Limits).
 */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, TANDEM_BEAM_RESOLVED_PCS);
    __type(key, struct tandem_beam_pc_key);
    __type(value, __u64);
} beam_resolved SEC(".maps");

/* [0]: the generation of the stream the sampler writes now (it bumps it per connection). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} beam_stream SEC(".maps");

/* How the JIT code that called into C keeps the Erlang stack pointer while C code runs, told
 * by the instruction its call returns to (docs/beam.md, "C leaves"). */
enum beam_boundary_kind {
    BEAM_BOUNDARY_NONE = 0,
    BEAM_BOUNDARY_RBP = 1,      /* `mov %rbp,%rsp`: rbp holds it (the JIT's E_saved) */
    BEAM_BOUNDARY_STOP = 2,     /* `mov stop(%r13),%rsp`: the process's `stop` holds it */
    /* The scheduler loop (process_main's call to erts_schedule returns to `mov %rax,%r13`, the
     * only call in the JIT code that does): the process is not running; `stop` and `i` hold
     * where it is. */
    BEAM_BOUNDARY_SCHEDULER = 3,
    /* A dirty CPU scheduler's thread, working for its `current_process` (a garbage collection
     * of a large heap, a dirty NIF): that process is not running either. */
    BEAM_BOUNDARY_DIRTY = 4,
};

/* Where the native walk of a C-leaf sample met JIT code: the return address, and the native
 * sp and rbp the table walk recovered for that frame. */
struct beam_boundary {
    __u64 pc;
    __u64 sp;                   /* for BEAM_BOUNDARY_DIRTY: the thread's fs base (its pthread_t) */
    __u64 bp;
    __u64 resume;               /* for the scheduler kinds: the process's `i`, its innermost pc */
    __u32 kind;                 /* enum beam_boundary_kind */
    __u32 armed;                /* the hook looks at the first frame without a table, once */
    __u32 stop_offset;          /* the layout's Process.stop: the displacement of the second form */
    __u32 reserved;
};

/* The walk in progress: the bpf_loop callback keeps its frames and its block of stack here. */
struct beam_scratch {
    struct tandem_beam_walk walk;
    __u64 stack[TANDEM_BEAM_STACK_BLOCK_WORDS];
    struct beam_boundary boundary;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct beam_scratch);
} beam_scratch SEC(".maps");

/* What beam_resolve returns when the pc is in no module of the table, or a read failed
 * (an ErtsCodeInfo is word-aligned: 1 is never one). */
#define BEAM_NOT_FOUND 1

/*
 * The code header (BeamCodeHeader *) of the module whose range holds `pc`: a binary search of
 * the active code index's module table (`modules`, `count` Ranges); 0 when none does or a read
 * failed. A global function: the verifier checks it once, not per call.
 */
__noinline __u64 beam_find_module(__u64 pc, __u64 modules, __u64 count, __u32 layout_index)
{
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &layout_index);
    if (!layout || count == 0 || count > TANDEM_BEAM_MAX_ENTRIES)
        return 0;
    __u64 low = 0, high = count;
    for (int step = 0; step < TANDEM_BEAM_SEARCH_STEPS && low < high; step++) {
        __u64 middle = (low + high) / 2;
        __u64 range[2];
        if (bpf_probe_read_user(range, sizeof(range), (void *)(modules + middle * layout->range_size)))
            return 0;
        if (pc < range[0])
            high = middle;
        else if (pc >= range[1])
            low = middle + 1;
        else
            return range[0];
    }
    return 0;
}

/*
 * The index in the module's sorted functions[] of the function whose code holds `pc` (a binary
 * search: entry i starts function i, entry i + 1 ends it); -1 when the pc lies outside its
 * functions (its header, line table, literals), -2 when a read failed. Global, checked once.
 */
__noinline long beam_find_function(__u64 pc, __u64 header, __u32 layout_index)
{
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &layout_index);
    __u64 functions;
    if (!layout || read_user_u64(&functions, header + layout->code_header_function_count) ||
        functions > TANDEM_BEAM_MAX_ENTRIES)
        return -2;
    __u64 table = header + layout->code_header_functions;
    __u64 low = 0, high = functions;
    for (int step = 0; step < TANDEM_BEAM_SEARCH_STEPS && low < high; step++) {
        __u64 middle = (low + high) / 2;
        __u64 bounds[2]; /* functions[middle] and functions[middle + 1]: the table has one more */
        if (bpf_probe_read_user(bounds, sizeof(bounds), (void *)(table + middle * 8)))
            return -2;
        if (pc < bounds[0])
            high = middle;
        else if (pc >= bounds[1])
            low = middle + 1;
        else
            return middle;
    }
    return -1;
}

/*
 * The ErtsCodeInfo of the function whose code holds `pc`: 0 when the pc is in a module but
 * outside its functions; BEAM_NOT_FOUND otherwise.
 */
static __always_inline __u64 beam_resolve(__u64 pc, __u64 modules, __u64 count, __u32 layout_index)
{
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &layout_index);
    __u64 header = beam_find_module(pc, modules, count, layout_index);
    if (!layout || header == 0)
        return BEAM_NOT_FOUND;
    long index = beam_find_function(pc, header, layout_index);
    __u64 code_info;
    if (index == -1)
        return 0;
    if (index < 0 || read_user_u64(&code_info, header + layout->code_header_functions + index * 8))
        return BEAM_NOT_FOUND;
    return code_info;
}

/* beam_resolve through beam_resolved; `owner` is the VM's instance << 32 | the active code
 * index (a global function takes at most five arguments). */
__noinline __u64 beam_resolve_cached(__u64 pc, __u64 modules, __u64 count, __u32 layout_index, __u64 owner)
{
    struct tandem_beam_pc_key key = { .pc = pc, .instance = owner >> 32, .code_index = (__u32)owner };
    __u64 *resolved = bpf_map_lookup_elem(&beam_resolved, &key);
    if (resolved)
        return *resolved;
    __u64 code_info = beam_resolve(pc, modules, count, layout_index);
    bpf_map_update_elem(&beam_resolved, &key, &code_info, BPF_ANY);
    return code_info;
}

/* Copies the name of atom `term` into `destination`. Returns the bytes copied, -1 when unreadable. */
static __always_inline int beam_copy_atom(__u8 *destination, __u64 term, __u64 segments,
                                          struct tandem_beam_layout *layout)
{
    if ((term & layout->atom_tag_mask) != layout->atom_tag)
        return -1;
    __u64 index = term >> (layout->atom_term_shift & 63);
    __u64 shift = layout->atom_segment_shift & 63;
    __u64 segment, atom, name;
    __u16 length;
    if (read_user_u64(&segment, segments + 8 * (index >> shift)) ||
        read_user_u64(&atom, segment + 8 * (index & ((1ULL << shift) - 1))) ||
        bpf_probe_read_user(&length, sizeof(length), (void *)(atom + layout->atom_length)) ||
        read_user_u64(&name, atom + layout->atom_name))
        return -1;
    __u32 bytes = length;
    if (bytes >= TANDEM_BEAM_ATOM_BYTES)
        return -1;
    if (bytes > 0 && bpf_probe_read_user(destination, bytes, (void *)name))
        return -1;
    return bytes;
}

/*
 * Copies function `index`'s slice of its module's line table into `event`: the code addresses
 * starting its lines and their locations (file << 24 | line), at most TANDEM_BEAM_MAX_LINES,
 * then the name of its first location's file (file k > 0 is the Erlang string fname_ptr[k - 1];
 * file 0 is the module's name with ".erl", which the aggregator has). Returns the flags.
 */
static __always_inline __u32 beam_copy_lines(struct tandem_beam_function_event *event, __u64 header, long index,
                                             struct tandem_beam_layout *layout)
{
    struct tandem_beam_function_event_fields *fields = &event->fields;
    __u64 line_table = 0, file_names, locations, first, bounds[2];
    __s32 location_size;
    if (index < 0 || index >= TANDEM_BEAM_MAX_ENTRIES ||
        read_user_u64(&line_table, header + layout->code_header_line_table))
        return TANDEM_BEAM_FUNCTION_LINES_UNREADABLE;
    if (line_table == 0)
        return TANDEM_BEAM_FUNCTION_NO_LINES;
    __u64 functions = line_table + layout->line_table_functions;
    if (read_user_u64(&file_names, line_table + layout->line_table_file_names) ||
        bpf_probe_read_user(&location_size, sizeof(location_size), (void *)(line_table + layout->line_table_location_size)) ||
        read_user_u64(&locations, line_table + layout->line_table_locations) ||
        read_user_u64(&first, functions) ||
        bpf_probe_read_user(bounds, sizeof(bounds), (void *)(functions + index * 8)) ||
        (location_size != 2 && location_size != 4) || bounds[1] < bounds[0] || bounds[0] < first ||
        (bounds[0] - first) % 8 || (bounds[1] - bounds[0]) % 8)
        return TANDEM_BEAM_FUNCTION_LINES_UNREADABLE;
    __u64 lines = (bounds[1] - bounds[0]) / 8;
    __u32 flags = 0;
    if (lines == 0)
        return TANDEM_BEAM_FUNCTION_NO_LINES;
    if (lines > TANDEM_BEAM_MAX_LINES) {
        lines = TANDEM_BEAM_MAX_LINES;
        flags |= TANDEM_BEAM_FUNCTION_LINES_TRUNCATED;
    }
    __u32 size = location_size == 2 ? 2 : 4;
    __u32 location_bytes = lines * size;
    if (location_bytes > sizeof(event->locations))
        return TANDEM_BEAM_FUNCTION_LINES_UNREADABLE;
    /* Entry j of the whole table (func_tab[0] is entry 0) has its location at loc_tab[j]. */
    __u64 entry = (bounds[0] - first) / 8;
    if (bpf_probe_read_user(event->line_addresses, lines * 8, (void *)bounds[0]) ||
        bpf_probe_read_user(event->locations, location_bytes, (void *)(locations + entry * size)))
        return TANDEM_BEAM_FUNCTION_LINES_UNREADABLE;
    fields->line_count = lines;
    fields->location_size = size;
    __u32 location = size == 2 ? *(__u16 *)event->locations : *(__u32 *)event->locations;
    __u32 file = location >> 24;
    fields->file_index = file;
    if (file == 0)
        return flags;
    __u64 term;
    if (read_user_u64(&term, file_names + (file - 1) * 8))
        return flags | TANDEM_BEAM_FUNCTION_FILE_UNREADABLE;
    __u32 characters = 0;
    for (int i = 0; i < TANDEM_BEAM_FILE_CHARACTERS && (term & 3) == TANDEM_BEAM_LIST_TAG; i++) {
        __u64 cell[2];
        if (bpf_probe_read_user(cell, sizeof(cell), (void *)(term - TANDEM_BEAM_LIST_TAG)) ||
            (cell[0] & 0xf) != TANDEM_BEAM_SMALL_TAG)
            return flags | TANDEM_BEAM_FUNCTION_FILE_UNREADABLE;
        event->file[i] = cell[0] >> 4;
        characters = i + 1;
        term = cell[1];
    }
    if (term != TANDEM_BEAM_NIL)
        return flags | TANDEM_BEAM_FUNCTION_FILE_UNREADABLE;
    fields->file_characters = characters;
    return flags;
}

/*
 * Emits the record of `code_info`, function `index` of the module whose code header is
 * `header`: its MFA, names and lines. Returns 0 when it is in the ring buffer. A global
 * function, checked once.
 */
__noinline int beam_emit_function(__u32 pid, __u64 code_info, __u64 header, long index)
{
    struct tandem_beam_process *process = bpf_map_lookup_elem(&beam_processes, &pid);
    if (!process)
        return -1;
    __u32 layout_index = process->layout;
    __u64 atom_table = process->atom_table_address;
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &layout_index);
    if (!layout)
        return -1;
    __u64 mfa[3];
    if (bpf_probe_read_user(mfa, sizeof(mfa), (void *)(code_info + layout->code_info_mfa)))
        return -1;
    struct tandem_beam_function_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_BEAM_FUNCTION_RINGBUF_FULL);
        return -1;
    }
    struct tandem_beam_function_event_fields *fields = &event->fields;
    fields->kind = TANDEM_EVENT_BEAM_FUNCTION;
    fields->pid = pid;
    fields->code_info = code_info;
    fields->module = mfa[0];
    fields->function = mfa[1];
    fields->arity = mfa[2];
    fields->layout = layout_index;
    fields->instance = process->instance;
    fields->line_count = 0;
    fields->location_size = 0;
    fields->file_index = 0;
    fields->file_characters = 0;
    fields->reserved = 0;
    __u32 flags = 0;
    __u64 segments = 0;
    int copied = -1;
    if (!read_user_u64(&segments, atom_table + layout->index_table_segments))
        copied = beam_copy_atom(event->module, mfa[0], segments, layout);
    fields->module_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_BEAM_FUNCTION_MODULE_UNREADABLE : 0;
    copied = segments ? beam_copy_atom(event->function, mfa[1], segments, layout) : -1;
    fields->function_bytes = copied < 0 ? 0 : copied;
    flags |= copied < 0 ? TANDEM_BEAM_FUNCTION_NAME_UNREADABLE : 0;
    flags |= beam_copy_lines(event, header, index, layout);
    fields->flags = flags;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    count(TANDEM_COUNTER_BEAM_FUNCTION_RECORDS);
    return 0;
}

struct beam_walk_state {
    __u64 sp;           /* the next block of the Erlang stack to scan */
    __u64 modules;      /* the active code index's Range array and its length */
    __u64 count;
    __u64 low;          /* the code: from the first module's start to the last one's end */
    __u64 high;
    __u64 normal_exit;  /* the continuation pointer at the bottom of every process's stack */
    __u64 generation;
    __u32 pid;
    __u32 instance;
    __u32 layout;
    __u32 code_index;   /* the active one, when the walk started */
    __u32 done;         /* the scan reached normal_exit */
};

/* Keeps the frame of `pc` (the leaf's pc or a continuation pointer); emits its function's
 * record the first time in the stream. Returns 0 when the walk is full. */
static __always_inline int beam_keep_frame(struct tandem_beam_walk *walk, struct beam_walk_state *state, __u64 pc)
{
    __u32 count = walk->count;
    if (count >= TANDEM_BEAM_MAX_FRAMES) {
        walk->flags |= TANDEM_BEAM_WALK_TRUNCATED;
        return 0;
    }
    __u64 code_info = beam_resolve_cached(pc, state->modules, state->count, state->layout,
                                          (__u64)state->instance << 32 | state->code_index);
    if (code_info == BEAM_NOT_FOUND)
        return 1;
    walk->frames[count].code_info = code_info;
    walk->frames[count].pc = pc;
    walk->count = count + 1;
    if (code_info == 0)
        return 1;
    struct tandem_beam_function_key key = { .code_info = code_info, .pid = state->pid, .instance = state->instance };
    __u64 *sent = bpf_map_lookup_elem(&beam_functions_sent, &key);
    if (sent && *sent == state->generation)
        return 1;
    /* Once per function and stream: its module and index again, for its lines. */
    __u64 header = beam_find_module(code_info, state->modules, state->count, state->layout);
    long index = header ? beam_find_function(code_info, header, state->layout) : -1;
    if (beam_emit_function(state->pid, code_info, header, index) == 0)
        bpf_map_update_elem(&beam_functions_sent, &key, &state->generation, BPF_ANY);
    return 1;
}

/* One block of the Erlang stack: each word tagged 00 (a header tag, which no stack term has)
 * that points into the code is a continuation pointer. */
static long beam_stack_block(__u64 index, struct beam_walk_state *state)
{
    __u32 zero = 0;
    struct beam_scratch *scratch = bpf_map_lookup_elem(&beam_scratch, &zero);
    if (!scratch)
        return 1;
    struct tandem_beam_walk *walk = &scratch->walk;
    if (bpf_probe_read_user(scratch->stack, sizeof(scratch->stack), (void *)state->sp)) {
        walk->flags |= TANDEM_BEAM_WALK_TRUNCATED;
        return 1;
    }
    state->sp += sizeof(scratch->stack);
    for (int i = 0; i < TANDEM_BEAM_STACK_BLOCK_WORDS; i++) {
        __u64 word = scratch->stack[i];
        if (word == state->normal_exit) {
            state->done = 1;
            return 1;
        }
        if ((word & 3) == 0 && word >= state->low && word < state->high && !beam_keep_frame(walk, state, word))
            return 1;
    }
    return 0;
}

/*
 * Before the native walk of a sample of `pid`: arms the untabled-step hook when the VM keeps
 * no frame pointers in JIT code (erts_frame_layout 0, the default; with +JPperf the native walk
 * steps through the Erlang frames itself, docs/unwind-tables.md).
 */
static __always_inline void beam_arm_boundary(__u32 pid)
{
    __u32 zero = 0, frame_layout = 1;
    struct beam_scratch *scratch = bpf_map_lookup_elem(&beam_scratch, &zero);
    if (!scratch)
        return;
    scratch->boundary.kind = BEAM_BOUNDARY_NONE;
    scratch->boundary.armed = 0;
    struct tandem_beam_process *process = bpf_map_lookup_elem(&beam_processes, &pid);
    if (!process)
        return;
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &process->layout);
    if (!layout || layout->process_stop == 0 || layout->process_stop > 127 ||
        bpf_probe_read_user(&frame_layout, sizeof(frame_layout), (void *)process->frame_layout_address) ||
        frame_layout != 0)
        return;
    scratch->boundary.stop_offset = layout->process_stop;
    scratch->boundary.armed = 1;
}

/*
 * The unwinder's TANDEM_UNWIND_UNTABLED_STEP hook in the BEAM walker's object: at the first
 * frame without a table past the leaf, when the code the return address points at restores
 * the Erlang stack pointer (`mov %rbp,%rsp`, 48 89 ec; or `mov stop(%r13),%rsp`, 49 8b 65 disp8),
 * the C code was called from JIT code: keeps the frame's registers for beam_walk and ends the
 * native walk there (the Erlang frames stand for what is rootward). Else the unwinder's
 * fallbacks apply, as before.
 */
static __always_inline int beam_untabled_step(struct unwind_state *state, __u32 slot, __u64 lookup)
{
    __u32 zero = 0;
    struct beam_scratch *scratch = bpf_map_lookup_elem(&beam_scratch, &zero);
    if (!scratch || !scratch->boundary.armed)
        return 0;
    scratch->boundary.armed = 0;
    __u8 code[4];
    if (slot == 0 || bpf_probe_read_user(code, sizeof(code), (void *)state->pc))
        return 0;
    __u32 kind = BEAM_BOUNDARY_NONE;
    if (code[0] == 0x48 && code[1] == 0x89 && code[2] == 0xec)
        kind = BEAM_BOUNDARY_RBP;
    else if (code[0] == 0x49 && code[1] == 0x8b && code[2] == 0x65 && code[3] == scratch->boundary.stop_offset)
        kind = BEAM_BOUNDARY_STOP;
    else if (code[0] == 0x49 && code[1] == 0x89 && code[2] == 0xc5)
        kind = BEAM_BOUNDARY_SCHEDULER;
    if (kind == BEAM_BOUNDARY_NONE)
        return 0;
    scratch->boundary.pc = state->pc;
    scratch->boundary.sp = state->sp;
    scratch->boundary.bp = state->bp;
    scratch->boundary.kind = kind;
    state->pc = 0; /* the walk ends after this frame, complete */
    return 1;
}

/* The search for a scheduler: the normal one whose ErtsSchedulerRegisters start at the native
 * sp at the JIT frame (where its runtime stack starts), or the dirty CPU one whose thread is the
 * sample's (its pthread_t is the thread's fs base). */
struct beam_scheduler_search {
    __u64 array;        /* erts_aligned_scheduler_data's or erts_aligned_dirty_cpu_scheduler_data's value */
    __u64 count;        /* erts_no_schedulers or erts_no_dirty_cpu_schedulers */
    __u64 match;        /* the value the field at `offset` must hold */
    __u64 found;        /* that scheduler's ErtsSchedulerData, 0 while none */
    __u32 stride;
    __u32 offset;       /* ErtsSchedulerData.registers or .tid */
};

static long beam_scheduler_step(__u64 index, struct beam_scheduler_search *search)
{
    if (index >= search->count)
        return 1;
    __u64 data = search->array + index * search->stride, value;
    if (read_user_u64(&value, data + search->offset))
        return 1;
    if (value == search->match) {
        search->found = data;
        return 1;
    }
    return 0;
}

/*
 * The Erlang stack pointer of a sample whose leaf is C code (docs/beam.md, "C leaves"), 0 when
 * it cannot be trusted. Called from JIT code (the hook found the boundary): the JIT saves it in
 * rbp or in the running process's `stop` (the instruction after the call says which) and
 * switches rsp to the scheduler's runtime stack, which starts where its ErtsSchedulerRegisters
 * do, so the native sp at the JIT frame (`match`) must be some normal scheduler's `registers`;
 * that scheduler's `current_process` holds `stop`. In the scheduler loop, or on a dirty CPU
 * scheduler (`match`: the thread's fs base, which must be one's `tid`), the process is not
 * running: `stop` holds its stack pointer and `i` (kept in the boundary's `resume`) its
 * innermost pc. 1 when that scheduler runs no process (its own work: no C leaf of Erlang
 * code). A global function, checked once.
 */
__noinline __u64 beam_c_leaf_stack(__u32 pid, __u64 match, __u64 bp, __u32 kind)
{
    __u32 zero = 0;
    struct beam_scratch *scratch = bpf_map_lookup_elem(&beam_scratch, &zero);
    struct tandem_beam_process *process = bpf_map_lookup_elem(&beam_processes, &pid);
    if (!scratch || !process)
        return 0;
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &process->layout);
    if (!layout)
        return 0;
    int dirty = kind == BEAM_BOUNDARY_DIRTY;
    struct beam_scheduler_search search = {
        .match = match, .stride = layout->scheduler_data_size,
        .offset = dirty ? layout->scheduler_thread : layout->scheduler_registers,
    };
    __u64 sp = 0, current = 0;
    if (search.stride == 0 || (dirty && layout->scheduler_thread == 0) ||
        read_user_u64(&search.array, dirty ? process->dirty_scheduler_data_address : process->scheduler_data_address) ||
        read_user_u64(&search.count, dirty ? process->dirty_scheduler_count_address : process->scheduler_count_address) ||
        search.count == 0 || search.count > TANDEM_BEAM_MAX_SCHEDULERS)
        return 0;
    bpf_loop(TANDEM_BEAM_MAX_SCHEDULERS, beam_scheduler_step, &search, 0);
    if (search.found == 0)
        return 0;
    if (kind == BEAM_BOUNDARY_RBP)
        sp = bp;
    else if (read_user_u64(&current, search.found + layout->scheduler_current_process))
        return 0;
    else if (current == 0)
        return 1; /* no process: the scheduler's own work */
    else if (read_user_u64(&sp, current + layout->process_stop))
        return 0;
    scratch->boundary.resume = 0;
    if ((kind == BEAM_BOUNDARY_SCHEDULER || dirty) &&
        (layout->process_instruction == 0 ||
         read_user_u64(&scratch->boundary.resume, current + layout->process_instruction)))
        return 0;
    return sp & 7 ? 0 : sp;
}

/*
 * Whether the current thread is a dirty CPU scheduler: ERTS names them `N_dirty_cpu_scheduler`
 * (15 bytes of it in comm). Only a filter: beam_c_leaf_stack then requires the thread to be one
 * of erts_aligned_dirty_cpu_scheduler_data's, by its fs base.
 */
static __always_inline int beam_dirty_cpu_thread(void)
{
    char comm[16] = {};
    static const char name[] = "_dirty_cpu";
    if (bpf_get_current_comm(comm, sizeof(comm)))
        return 0;
    for (int start = 1; start <= 4; start++) {
        int same = 1;
        for (int i = 0; i < (int)sizeof(name) - 1; i++)
            if (comm[start + i] != name[i])
                same = 0;
        if (same)
            return 1;
    }
    return 0;
}

/*
 * Walks the Erlang frames of the current thread into the per-CPU scratch walk: the leaf pc
 * when it lies in a module's code, then the continuation pointers on the Erlang stack (sp is
 * the Erlang process's stack while JIT code runs, docs/beam.md). Returns the scratch walk,
 * or 0 when the process is no checked VM.
 */
static __always_inline struct tandem_beam_walk *beam_walk(__u32 pid)
{
    struct tandem_beam_process *process = bpf_map_lookup_elem(&beam_processes, &pid);
    if (!process)
        return 0;
    __u32 zero = 0;
    struct beam_scratch *scratch = bpf_map_lookup_elem(&beam_scratch, &zero);
    struct tandem_beam_layout *layout = bpf_map_lookup_elem(&beam_layouts, &process->layout);
    __u64 *generation = bpf_map_lookup_elem(&beam_stream, &zero);
    if (!scratch || !layout || !generation || layout->erts_major == 0)
        return 0;
    struct tandem_beam_walk *walk = &scratch->walk;
    walk->count = 0;
    walk->flags = 0;
    count(TANDEM_COUNTER_BEAM_WALKS);

    struct pt_regs regs;
    struct task_struct *task = bpf_get_current_task_btf();
    if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)bpf_task_pt_regs(task)) || (regs.cs & 3) != 3) {
        walk->flags |= TANDEM_BEAM_WALK_NOT_ERLANG;
        return walk;
    }
    struct beam_walk_state state = {
        .sp = regs.rsp, .generation = *generation,
        .pid = pid, .instance = process->instance, .layout = process->layout,
    };
    __u32 code_index = 0;
    __u64 ranges[2], first[2], last[2];
    if (bpf_probe_read_user(&code_index, sizeof(code_index), (void *)process->active_code_index_address) ||
        code_index >= layout->code_index_count ||
        bpf_probe_read_user(ranges, sizeof(ranges),
                            (void *)(process->ranges_address + code_index * layout->ranges_size)) ||
        read_user_u64(&state.normal_exit, process->normal_exit_address)) {
        walk->flags |= TANDEM_BEAM_WALK_READ_ERROR;
        return walk;
    }
    state.code_index = code_index;
    state.modules = ranges[0];
    state.count = ranges[1];
    if (state.count == 0 || state.count > TANDEM_BEAM_MAX_ENTRIES ||
        bpf_probe_read_user(first, sizeof(first), (void *)state.modules) ||
        bpf_probe_read_user(last, sizeof(last), (void *)(state.modules + (state.count - 1) * layout->range_size))) {
        walk->flags |= TANDEM_BEAM_WALK_READ_ERROR;
        return walk;
    }
    state.low = first[0];
    state.high = last[1];
    __u64 leaf = regs.rip;
    if (leaf < state.low || leaf >= state.high) {
        /* C code (or a shared fragment). Called from JIT code (the hook found where), its
         * Erlang frames follow an anchor at the JIT return address (docs/beam.md, "C leaves"). */
        walk->flags |= TANDEM_BEAM_WALK_NOT_ERLANG;
        struct beam_boundary *boundary = &scratch->boundary;
        if (boundary->kind == BEAM_BOUNDARY_NONE && beam_dirty_cpu_thread()) {
            struct task_struct___tandem *current_task = (void *)bpf_get_current_task_btf();
            boundary->kind = BEAM_BOUNDARY_DIRTY;
            boundary->pc = 0;
            boundary->sp = BPF_CORE_READ(current_task, thread.fsbase);
        }
        if (boundary->kind == BEAM_BOUNDARY_NONE)
            return walk;
        state.sp = beam_c_leaf_stack(pid, boundary->sp, boundary->bp, boundary->kind);
        if (state.sp == 1)
            return walk;
        count(TANDEM_COUNTER_BEAM_C_LEAF_WALKS);
        walk->flags |= TANDEM_BEAM_WALK_C_LEAF;
        if (state.sp == 0) {
            count(TANDEM_COUNTER_BEAM_C_LEAF_SKIPPED);
            return walk;
        }
        walk->frames[0].code_info = TANDEM_BEAM_FRAME_ANCHOR;
        walk->frames[0].pc = boundary->pc;
        walk->count = 1;
        /* A compiler barrier: without it clang specializes the inlined beam_keep_frame below
         * for a count of 1, and the verifier walks that copy too (575k instructions, not 355k). */
        asm volatile("" ::: "memory");
        /* A call from a function's own code: that function is the innermost Erlang frame.
         * From a shared fragment (below the modules), the word at the saved stack pointer is
         * the fragment's return into the calling function: a scan finds it when it is 4-byte
         * aligned (a CP), but `safe_fragment_call` (the arithmetic fragments) leaves it
         * unaligned, so it is taken here whatever its alignment (live run: 784 of 6,007
         * C-leaf samples under multiply/2 lacked it and showed measure/2 as the innermost).
         * A process that is not running resumes at `i`: its innermost pc. */
        leaf = boundary->kind >= BEAM_BOUNDARY_SCHEDULER ? boundary->resume : boundary->pc;
        __u64 top = 0;
        if ((leaf < state.low || leaf >= state.high) && !read_user_u64(&top, state.sp) && (top & 3) &&
            top >= state.low && top < state.high)
            leaf = top;
    }
    beam_keep_frame(walk, &state, leaf);
    bpf_loop(TANDEM_BEAM_STACK_BLOCKS, beam_stack_block, &state, 0);
    if (!state.done)
        walk->flags |= TANDEM_BEAM_WALK_TRUNCATED;
    /* The flag, not a variable: a register that differs between the two paths would keep the
     * verifier from merging their states (twice the instructions). */
    if (walk->flags & TANDEM_BEAM_WALK_C_LEAF) {
        /* A C leaf's scan must reach the stack's bottom: anything else is not trusted. */
        if (!state.done || walk->count < 2) {
            walk->count = 0;
            count(TANDEM_COUNTER_BEAM_C_LEAF_SKIPPED);
            return walk;
        }
        count(TANDEM_COUNTER_BEAM_C_LEAF_FOUND);
    }
    if (walk->count > 0)
        count(TANDEM_COUNTER_BEAM_FRAMES_FOUND);
    return walk;
}

/* Emits a sample of a BEAM process: the sample (as fill_sample fills it), then its Erlang frames. */
static __always_inline int emit_beam_sample(void *ctx, struct tandem_beam_walk *walk, int unwound,
                                            struct unwind_result *user)
{
    struct tandem_beam_sample_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event) {
        count(TANDEM_COUNTER_SAMPLES_RINGBUF_FULL);
        return 0;
    }
    fill_sample(ctx, &event->sample, TANDEM_EVENT_BEAM_SAMPLE, unwound, user);
    __u32 frames = walk->count;
    event->walk.flags = walk->flags;
    event->walk.count = 0;
    if (frames > 0 && frames <= TANDEM_BEAM_MAX_FRAMES &&
        !bpf_probe_read_kernel(event->walk.frames, frames * sizeof(struct tandem_beam_frame), walk->frames))
        event->walk.count = frames;
    bpf_ringbuf_submit(event, BPF_RB_NO_WAKEUP);
    return 0;
}
