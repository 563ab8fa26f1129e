/* ---- Unwind tables (docs/unwind-tables.md): written by the loader only. ---- */

/* All tables' entries; mmap'ed by the loader, which copies serialized tables in. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1 << 20); /* resized by the loader */
    __type(key, __u32);
    __type(value, struct tandem_unwind_entry);
} unwind_entries SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, TANDEM_UNWIND_MAX_TABLES);
    __type(key, __u32);
    __type(value, struct tandem_unwind_table);
} unwind_tables SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TANDEM_UNWIND_MAX_PROCESSES);
    __type(key, __u32);
    __type(value, struct tandem_unwind_process);
} unwind_processes SEC(".maps");

/* The frames of the walk in progress (bpf_loop callbacks cannot hold the ring buffer record). */
struct unwind_scratch {
    __u64 frames[TANDEM_MAX_FRAMES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct unwind_scratch);
} unwind_scratch SEC(".maps");

/* The registers of the frame being unwound, and the walk's result. */
struct unwind_state {
    __u64 pc;
    __u64 sp;
    __u64 bp;
    __u32 pid;
    __u32 count;      /* frames written */
    __u32 flags;      /* enum tandem_user_flags */
    __u32 done;
    __u32 stack_switches; /* frame-pointer steps down to another stack so far */
    __u32 trampolines;    /* the process runs CPython: its perf trampolines may be on the stack */
};

/* A binary search in progress: the entries [low, high) of the table starting at `first` remain. */
struct row_search {
    __u32 first;
    __u32 low;
    __u32 high;
    __u32 offset;
};

static long row_search_step(__u64 index, struct row_search *search)
{
    if (search->low >= search->high)
        return 1;
    __u32 middle = search->low + (search->high - search->low) / 2;
    __u32 entry_index = search->first + middle;
    struct tandem_unwind_entry *entry = bpf_map_lookup_elem(&unwind_entries, &entry_index);
    if (!entry) {
        search->low = 0;
        return 1;
    }
    if (entry->start_offset <= search->offset)
        search->low = middle + 1;
    else
        search->high = middle;
    return 0;
}

/*
 * The entry of table `table` whose range holds table offset `offset`: a bounded binary
 * search, in a bpf_loop of its own so that the verifier checks one step, not 25 unrolled.
 */
static __always_inline struct tandem_unwind_entry *find_row(struct tandem_unwind_table *table, __u32 offset)
{
    struct row_search search = { .first = table->first_entry, .low = 0, .high = table->entry_count, .offset = offset };
    bpf_loop(TANDEM_UNWIND_SEARCH_STEPS, row_search_step, &search, 0);
    if (search.low == 0)
        return 0;
    __u32 index = search.first + search.low - 1;
    return bpf_map_lookup_elem(&unwind_entries, &index);
}

/*
 * One step along the rbp chain: the fallback where no table covers the pc. A frame pointer
 * below the stack pointer is a switch to another stack, not a loop, when the frame is JIT
 * code that runs on a stack of its own (BEAM: each Erlang process's stack, with C called on
 * the scheduler thread's): allowed TANDEM_UNWIND_MAX_STACK_SWITCHES times a walk, which with
 * bpf_loop's bound keeps a cyclic chain finite.
 */
static __always_inline int frame_pointer_step(struct unwind_state *state)
{
    __u64 saved[2];
    if (state->bp == 0 || (state->bp & 7))
        return -1;
    if (state->bp < state->sp) {
        if (state->stack_switches >= TANDEM_UNWIND_MAX_STACK_SWITCHES)
            return -1;
        state->stack_switches++;
    }
    if (bpf_probe_read_user(saved, sizeof(saved), (void *)state->bp))
        return -1;
    state->sp = state->bp + 16;
    state->bp = saved[0];
    state->pc = saved[1];
    count(TANDEM_COUNTER_UNWIND_FP_FRAMES);
    return 0;
}

/*
 * CPython's perf trampolines (python -X perf, 3.12+: a copy of _Py_trampoline_func_start per
 * Python function, in anonymous memory) have no CFI and keep no frame pointer:
 *     sub $8,%rsp; call *%rcx; add $8,%rsp; ret
 * Returning into one (pc just after the call), the caller's return address is at rsp + 8 and
 * the CFA is rsp + 16; rbp is untouched. Recognized by those exact 7 bytes around pc, never
 * guessed. Returns 1 when it stepped.
 */
static __always_inline int trampoline_step(struct unwind_state *state)
{
    static const __u8 shape[7] = { 0xff, 0xd1, 0x48, 0x83, 0xc4, 0x08, 0xc3 };
    __u8 code[7];
    if (bpf_probe_read_user(code, sizeof(code), (void *)(state->pc - 2)))
        return 0;
    for (int i = 0; i < 7; i++)
        if (code[i] != shape[i])
            return 0;
    __u64 return_address;
    if (bpf_probe_read_user(&return_address, sizeof(return_address), (void *)(state->sp + 8)))
        return 0;
    state->sp += 16;
    state->pc = return_address;
    count(TANDEM_COUNTER_UNWIND_FP_FRAMES);
    return 1;
}

/* Records the current frame, then finds the caller's registers. Returns 1 to stop. */
static long unwind_frame(__u64 index, struct unwind_state *state)
{
    __u32 zero = 0;
    struct unwind_scratch *scratch = bpf_map_lookup_elem(&unwind_scratch, &zero);
    if (!scratch)
        return 1;
    if (state->pc == 0) {
        /* A zero return address ends a frame-pointer chain (and glibc's thread starts). */
        state->done = 1;
        return 1;
    }
    __u32 slot = state->count;
    if (slot >= TANDEM_MAX_FRAMES) {
        state->flags |= TANDEM_USER_TRUNCATED;
        count(TANDEM_COUNTER_UNWIND_STOP_DEPTH);
        return 1;
    }
    scratch->frames[slot] = state->pc;
    state->count = slot + 1;

    /* After the first frame, pc is a return address: look up the call instruction. */
    __u64 lookup = slot == 0 ? state->pc : state->pc - 1;
    struct tandem_unwind_process *process = bpf_map_lookup_elem(&unwind_processes, &state->pid);
    if (!process)
        goto frame_pointer;
    struct tandem_unwind_mapping *mapping = 0;
    for (int i = 0; i < TANDEM_UNWIND_MAX_MAPPINGS; i++) {
        if (i >= process->count)
            break;
        if (process->mappings[i].start <= lookup && lookup < process->mappings[i].end) {
            mapping = &process->mappings[i];
            break;
        }
    }
    if (!mapping)
        goto frame_pointer;
    __u32 table_index = mapping->table;
    struct tandem_unwind_table *table = bpf_map_lookup_elem(&unwind_tables, &table_index);
    if (!table || table->entry_count == 0)
        goto frame_pointer;
    __u64 address = lookup + mapping->bias;
    if (address < table->base_address || address - table->base_address > 0xffffffffULL)
        goto frame_pointer;
    struct tandem_unwind_entry *entry = find_row(table, (__u32)(address - table->base_address));
    if (!entry)
        goto frame_pointer;

    __u32 rule = entry->rule;
    __u32 cfa_kind = rule & 7;
    __u32 rbp_kind = (rule >> 3) & 3;
    __s32 small = (__s8)((rule >> 5) & 0xff);
    __u64 cfa_offset = rule >> 13;
    __u64 cfa;
    switch (cfa_kind) {
    case 0: /* no info: a gap between functions */
        goto frame_pointer;
    case 1:
        cfa = state->sp + cfa_offset;
        break;
    case 2:
        cfa = state->bp + cfa_offset;
        break;
    case 3: /* lazy-binding PLT: rsp + K + ((rip & 15) >= N) * 8 */
        cfa = state->sp + cfa_offset + ((state->pc & 15) >= (__u64)small ? 8 : 0);
        break;
    case 4: /* end of stack: the thread's root */
        state->flags |= TANDEM_USER_REACHED_ROOT;
        state->done = 1;
        return 1;
    default: /* unsupported row */
        state->flags |= TANDEM_USER_TRUNCATED;
        count(TANDEM_COUNTER_UNWIND_STOP_UNSUPPORTED);
        return 1;
    }
    count(TANDEM_COUNTER_UNWIND_TABLE_FRAMES);
    __u64 return_address;
    if (bpf_probe_read_user(&return_address, sizeof(return_address), (void *)(cfa - 8))) {
        state->flags |= TANDEM_USER_TRUNCATED;
        count(TANDEM_COUNTER_UNWIND_STOP_READ);
        return 1;
    }
    if (rbp_kind == 1) {
        __u64 saved_bp;
        if (bpf_probe_read_user(&saved_bp, sizeof(saved_bp), (void *)(cfa + (__s64)small * 8))) {
            state->flags |= TANDEM_USER_TRUNCATED;
            count(TANDEM_COUNTER_UNWIND_STOP_READ);
            return 1;
        }
        state->bp = saved_bp;
    } else if (rbp_kind == 2) {
        state->bp = 0;
    }
    if (cfa <= state->sp) {
        /* The stack grows down: a caller's frame is above. Anything else is a loop. */
        state->flags |= TANDEM_USER_TRUNCATED;
        count(TANDEM_COUNTER_UNWIND_STOP_STACK_ORDER);
        return 1;
    }
    state->sp = cfa;
    state->pc = return_address;
    return 0;

frame_pointer:
#ifdef TANDEM_UNWIND_UNTABLED_STEP
    {
        /* A walker's own object may step over code without a table its own way (the JVM's
         * walker: Java frames in the code cache, hotspot_unwind.bpf.h). It defines the hook
         * before including this file: 1 stepped (the caller's registers are in `state`), -1
         * stop here (counted by the hook), 0 the fallbacks below apply. Every other object,
         * the sampling program's first, compiles without it. */
        int stepped = TANDEM_UNWIND_UNTABLED_STEP(state, slot, lookup);
        if (stepped > 0)
            return 0;
        if (stepped < 0) {
            state->flags |= TANDEM_USER_TRUNCATED;
            return 1;
        }
    }
#endif
    /* Past the leaf, pc is a return address: it may return into a CPython perf trampoline. */
    if (slot > 0 && state->trampolines && trampoline_step(state))
        return 0;
    if (state->bp == 0) {
        /* rbp 0 ends a frame-pointer chain, as bpf_get_stack's walk ends it: the outermost
         * frame of code that keeps frame pointers (the bottom of an Erlang process's stack
         * in BEAM's JIT code). Not a cut stack: flagging it split identical stacks in two. */
        state->done = 1;
        return 1;
    }
    if (frame_pointer_step(state)) {
        state->flags |= TANDEM_USER_TRUNCATED;
        count(TANDEM_COUNTER_UNWIND_STOP_FRAME_POINTER);
        return 1;
    }
    return 0;
}

/* The result of a table walk: the frames are in the per-CPU unwind_scratch. */
struct unwind_result {
    __u32 count;
    __u32 flags;       /* enum tandem_user_flags */
};

/*
 * Walks the current task's user stack with the unwind tables of its process into the
 * per-CPU scratch. Returns 0 when the process has no tables (the caller then uses
 * bpf_get_stack's frame-pointer walk), 1 when `result` describes the walk. Runs before
 * the sample is built, at one place, so that the verifier checks the walk once.
 * `cpython`: the process is one the CPython walker follows; only then are return addresses
 * in code without a table checked for a perf trampoline (a read of 7 code bytes each).
 */
static __always_inline int unwind_user_stack(__u32 pid, int cpython, struct unwind_result *result)
{
    if (!bpf_map_lookup_elem(&unwind_processes, &pid))
        return 0;
    /* The user registers saved at entry to the kernel (interrupt or system call). */
    struct pt_regs regs;
    struct task_struct *task = bpf_get_current_task_btf();
    if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)bpf_task_pt_regs(task)))
        return 0;
    if ((regs.cs & 3) != 3)
        return 0;
    struct unwind_state state = {
        .pc = regs.rip, .sp = regs.rsp, .bp = regs.rbp, .pid = pid, .trampolines = cpython != 0,
    };
    count(TANDEM_COUNTER_UNWIND_STACKS);
    bpf_loop(TANDEM_MAX_FRAMES + 1, unwind_frame, &state, 0);
    if (!state.done)
        state.flags |= TANDEM_USER_TRUNCATED;
    if (state.flags & TANDEM_USER_TRUNCATED)
        count(TANDEM_COUNTER_UNWIND_TRUNCATED);
    if (state.flags & TANDEM_USER_REACHED_ROOT)
        count(TANDEM_COUNTER_UNWIND_ROOT);
    if (state.count == 0 || state.count > TANDEM_MAX_FRAMES)
        return 0;
    result->count = state.count;
    result->flags = state.flags | TANDEM_USER_UNWOUND_WITH_TABLES;
    return 1;
}

/* Copies a table walk's frames to `words`, which has room for TANDEM_MAX_FRAMES. Returns the
 * bytes copied, 0 when it could not. */
static __always_inline __u32 copy_unwound_stack(__u64 *words, struct unwind_result *result)
{
    __u32 zero = 0;
    struct unwind_scratch *scratch = bpf_map_lookup_elem(&unwind_scratch, &zero);
    __u32 frames = result->count;
    if (!scratch || frames == 0 || frames > TANDEM_MAX_FRAMES)
        return 0;
    if (bpf_probe_read_kernel(words, frames * sizeof(__u64), scratch->frames))
        return 0;
    return frames * sizeof(__u64);
}
