/*
 * The HotSpot JVM walker's unwinding part (docs/jvm.md), in the JVM walker's object only
 * (jvm_walker.bpf.c): that object's copy of the table unwinder steps through Java frames with
 * it, through the unwinder's TANDEM_UNWIND_UNTABLED_STEP hook. The sampling program and the
 * other walkers compile the unwinder without it. Its maps and records are in hotspot.bpf.h.
 *
 * Java frames live on the thread's native stack, in code the JVM generated into its code
 * cache, which no unwind table covers. Where the table unwinder finds no table for a pc, the
 * hook looks at the pc: when it is in a code heap, the code blob holding it (found through the
 * heap's segment map) says how to reach the caller:
 *   - nmethod (C1/C2) and native-method wrapper: the caller's sp is sp + the blob's frame
 *     size; the return address and saved rbp are the two words below it;
 *   - the interpreter: rbp-based frames, with the Method * and bytecode pointer at fixed
 *     slots below rbp and the caller's sp in the sender-sp slot;
 *   - any other blob (stubs, the call stub): not handled here; the frame-pointer step the
 *     unwinder falls back to steps over it, as the call stub keeps rbp frames.
 * Each Java frame is recorded with the native slot it stands for; the aggregator names it.
 * Every read is bounded; nothing read is parsed beyond following the layout's pointers.
 */
/* The code blob holding `lookup`, or 0 when no code heap of the process holds it. */
static __always_inline __u64 hotspot_find_blob(struct tandem_hotspot_layout *layout,
                                               struct tandem_hotspot_process *process, __u64 lookup)
{
    __u64 heaps, data;
    __s32 length;
    if (read_user_u64(&heaps, process->code_cache_heaps) || heaps == 0 ||
        hotspot_read_s32(&length, heaps + layout->growable_array_length) ||
        read_user_u64(&data, heaps + layout->growable_array_data))
        return 0;
    for (int i = 0; i < TANDEM_HOTSPOT_MAX_HEAPS; i++) {
        if (i >= length)
            return 0;
        __u64 heap, low, high, segment_map;
        __s32 shift;
        if (read_user_u64(&heap, data + i * 8) ||
            read_user_u64(&low, heap + layout->code_heap_memory + layout->virtual_space_low) ||
            read_user_u64(&high, heap + layout->code_heap_memory + layout->virtual_space_high))
            return 0;
        if (lookup < low || lookup >= high)
            continue;
        if (read_user_u64(&segment_map, heap + layout->code_heap_segment_map + layout->virtual_space_low) ||
            hotspot_read_s32(&shift, heap + layout->code_heap_log2_segment_size) || shift < 4 || shift > 20)
            return 0;
        /* Each map byte is the distance back to its block's first segment (0 there, 0xff: free). */
        __u64 segment = (lookup - low) >> shift;
        for (int hop = 0; hop < TANDEM_HOTSPOT_SEGMENT_HOPS; hop++) {
            __u8 tag;
            if (bpf_probe_read_user(&tag, 1, (void *)(segment_map + segment)) || tag == 0xff || tag > segment)
                return 0;
            if (tag == 0)
                return low + (segment << shift) + layout->heap_block_size;
            segment -= tag;
        }
        return 0;
    }
    return 0;
}

/* A method's fingerprint: a Method * freed and reused by another method gets another key. */
static __always_inline __u32 hotspot_fingerprint(struct tandem_hotspot_layout *layout, __u64 method)
{
    __u64 const_method;
    __u16 code_size = 0, name_index = 0;
    if (read_user_u64(&const_method, method + layout->method_const_method))
        return 0;
    hotspot_read_u16(&code_size, const_method + layout->const_method_code_size);
    hotspot_read_u16(&name_index, const_method + layout->const_method_name_index);
    __u64 mix = (const_method >> 3) ^ ((__u64)code_size << 40) ^ ((__u64)name_index << 24);
    mix *= 0x9E3779B97F4A7C15ULL;
    return (__u32)(mix >> 32) | 1;  /* 0: unreadable */
}

/* The registers of the frame hotspot_step_frame steps over. */
struct hotspot_registers {
    __u64 pc;
    __u64 sp;
    __u64 bp;
    __u64 r13;
};

/* Blob kinds by the first 8 bytes of CodeBlob::_name (little-endian). */
#define HOTSPOT_NAME_NMETHOD 0x00646f6874656d6eULL      /* "nmethod\0" */
#define HOTSPOT_NAME_NATIVE 0x6e2065766974616eULL       /* "native n"(method) */
#define HOTSPOT_NAME_INTERPRETER 0x6572707265746e49ULL  /* "Interpre"(ter) */

/*
 * Where a compiled leaf's return address is when its pc is in a prologue or epilogue
 * (x86-64 C1/C2 code), from the code bytes around the pc: 0 at [sp] (rbp untouched),
 * 1 at [sp + 8] with the saved rbp at [sp], -1 a complete frame (frame size applies).
 *   pop rbp                          → 1 (the frame is released, rbp still on the stack)
 *   cmp rsp,[r15+d32] / its ja / ret → 0 (the return poll after pop rbp)
 *   before frame complete: push rbp → 0; sub rsp or the stack bang → 0, or 1 after C1's push rbp
 */
static __always_inline int hotspot_leaf_rule(__u64 pc, int before_complete)
{
    __u8 code[10];
    if (bpf_probe_read_user(code, sizeof(code), (void *)(pc - 7)))
        return -1;
    __u8 *at = &code[7];
    int poll_at = at[0] == 0x49 && at[1] == 0x3b && at[2] == 0xa7;
    int poll_before = code[0] == 0x49 && code[1] == 0x3b && code[2] == 0xa7;
    if (at[0] == 0x5d)
        return 1;
    if (at[0] == 0xc3 || poll_at || (at[0] == 0x0f && at[1] == 0x87 && poll_before))
        return 0;
    if (!before_complete)
        return -1;
    if (at[0] == 0x55)
        return 0;
    if ((at[0] == 0x48 && (at[1] == 0x81 || at[1] == 0x83) && at[2] == 0xec) ||
        (at[0] == 0x89 && at[1] == 0x84 && at[2] == 0x24))
        return code[6] == 0x55 ? 1 : 0;
    return -1;
}

/* Records a Java frame for native slot `slot`. */
static __always_inline void hotspot_record(__u32 slot, __u64 method, __u64 code, __u32 fingerprint,
                                           __u32 position, __u8 kind)
{
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    if (!scratch)
        return;
    struct tandem_hotspot_walk *walk = &scratch->walk;
    __u32 index = walk->count;
    if (index >= TANDEM_HOTSPOT_MAX_FRAMES) {
        walk->flags |= TANDEM_USER_TRUNCATED;
        return;
    }
    struct tandem_hotspot_frame *frame = &walk->frames[index];
    frame->method = method;
    frame->code = code;
    frame->fingerprint = fingerprint;
    frame->position = position;
    frame->slot = slot;
    frame->kind = kind;
    walk->count = index + 1;
    count(TANDEM_COUNTER_HOTSPOT_FRAMES);
}

/*
 * Steps over the Java frame at `pc` (native slot `slot` of process `pid`, both in
 * `pid_slot`, already recorded as a pc). Returns 0 when pc is no Java frame (the caller's
 * fallback applies), 1 when it stepped (the caller's pc, sp and bp are in the scratch), -1
 * when the frame could not be followed. A global function: the verifier checks it once, on
 * its own, not once per path of the unwinder's loop body.
 */
__attribute__((noinline)) int hotspot_step_frame(__u64 pid_slot, __u64 pc, __u64 sp, __u64 bp, __u64 lookup)
{
    __u32 pid = pid_slot >> 32;
    __u32 slot = (__u32)pid_slot;
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    if (!scratch)
        return 0;
    struct hotspot_registers regs = { .pc = pc, .sp = sp, .bp = bp, .r13 = scratch->r13 };
    struct hotspot_registers *state = &regs;
    struct tandem_hotspot_process *process = bpf_map_lookup_elem(&hotspot_processes, &pid);
    if (!process)
        return 0;
    __u32 layout_index = process->layout;
    struct tandem_hotspot_layout *layout = bpf_map_lookup_elem(&hotspot_layouts, &layout_index);
    if (!layout || layout->feature_version == 0)
        return 0;
    __u64 blob = hotspot_find_blob(layout, process, lookup);
    if (blob == 0)
        return 0;
    __u64 name_pointer, name = 0;
    if (read_user_u64(&name_pointer, blob + layout->code_blob_name) || read_user_u64(&name, name_pointer))
        return 0;

    if (name == HOTSPOT_NAME_INTERPRETER) {
        __u64 method, bcp, sender_sp, saved[2];
        __s64 bp = state->bp;
        if (bp == 0 || (bp & 7) ||
            read_user_u64(&method, bp + 8 * (__s64)layout->interpreter_method) ||
            read_user_u64(&sender_sp, bp + 8 * (__s64)layout->interpreter_sender_sp) ||
            bpf_probe_read_user(saved, sizeof(saved), (void *)bp))
            return -1;
        /* The leaf keeps its bytecode pointer in r13; the slot holds it only across calls. */
        if (slot == 0)
            bcp = state->r13;
        else if (read_user_u64(&bcp, bp + 8 * (__s64)layout->interpreter_bcp))
            return -1;
        __u64 const_method = 0;
        read_user_u64(&const_method, method + layout->method_const_method);
        __u64 bytecode = const_method + layout->const_method_size;
        __u32 bci = bcp >= bytecode && bcp - bytecode < 0x10000 ? (__u32)(bcp - bytecode) : 0xffffffff;
        hotspot_record(slot, method, 0, hotspot_fingerprint(layout, method), bci, TANDEM_HOTSPOT_INTERPRETED);
        if (sender_sp <= state->sp)
            return -1;
        scratch->sp = sender_sp;
        scratch->bp = saved[0];
        scratch->pc = saved[1];
        return 1;
    }
    if (name != HOTSPOT_NAME_NMETHOD && name != HOTSPOT_NAME_NATIVE)
        return 0;

    __u64 method = 0, code_begin;
    __s32 frame_words, frame_complete;
    if (hotspot_read_s32(&frame_words, blob + layout->code_blob_frame_size) ||
        hotspot_read_s32(&frame_complete, blob + layout->code_blob_frame_complete) ||
        read_user_u64(&code_begin, blob + layout->code_blob_code_begin) || frame_words <= 0 || frame_words > 0x10000)
        return -1;
    read_user_u64(&method, blob + layout->compiled_method_method);
    __u32 offset = state->pc - code_begin < 0xffffffffULL ? (__u32)(state->pc - code_begin) : 0xffffffff;
    hotspot_record(slot, method, blob, method ? hotspot_fingerprint(layout, method) : 0, offset,
                   name == HOTSPOT_NAME_NMETHOD ? TANDEM_HOTSPOT_COMPILED : TANDEM_HOTSPOT_NATIVE_WRAPPER);
    /* A leaf in its prologue or epilogue has less than its frame on the stack. */
    int rule = slot == 0 ? hotspot_leaf_rule(state->pc, state->pc < code_begin + frame_complete) : -1;
    if (rule >= 0) {
        __u64 words[2];
        if (bpf_probe_read_user(words, sizeof(words), (void *)state->sp))
            return -1;
        scratch->bp = rule == 1 ? words[0] : state->bp;
        scratch->pc = words[rule & 1];
        scratch->sp = state->sp + 8 * (rule + 1);
        return 1;
    }
    __u64 caller_sp = state->sp + 8 * (__u64)frame_words;
    __u64 return_address;
    if (read_user_u64(&return_address, caller_sp - 8))
        return -1;
    scratch->bp = state->bp;
    if (frame_words >= 2) {
        __u64 saved_bp;
        if (read_user_u64(&saved_bp, caller_sp - 16))
            return -1;
        scratch->bp = saved_bp;
    }
    scratch->sp = caller_sp;
    scratch->pc = return_address;
    return 1;
}

/* The unwinder's TANDEM_UNWIND_UNTABLED_STEP hook: hotspot_step_frame for its state. */
static __always_inline int hotspot_untabled_step(struct unwind_state *state, __u32 slot, __u64 lookup)
{
    int stepped = hotspot_step_frame((__u64)state->pid << 32 | slot, state->pc, state->sp, state->bp, lookup);
    if (stepped < 0)
        count(TANDEM_COUNTER_HOTSPOT_STOPS);
    if (stepped <= 0)
        return stepped;
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    if (!scratch)
        return -1;
    state->pc = scratch->pc;
    state->sp = scratch->sp;
    state->bp = scratch->bp;
    return 1;
}

/*
 * Starts a walk: no Java frames yet, and the leaf's r13 (the interpreter's bytecode pointer)
 * from the user registers saved at entry to the kernel. Returns 1 when the process is a JVM
 * the walker follows.
 */
static __always_inline int hotspot_begin(__u32 pid)
{
    if (!bpf_map_lookup_elem(&hotspot_processes, &pid))
        return 0;
    __u32 zero = 0;
    struct tandem_hotspot_scratch *scratch = bpf_map_lookup_elem(&hotspot_scratch, &zero);
    if (!scratch)
        return 0;
    scratch->walk.count = 0;
    scratch->walk.flags = 0;
    __u64 r13 = 0;
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    if (bpf_probe_read_kernel(&r13, sizeof(r13), &regs->r13))
        r13 = 0;
    scratch->r13 = r13;
    return 1;
}
