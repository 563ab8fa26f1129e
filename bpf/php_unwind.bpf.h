/*
 * The PHP walker's step over opcache's JIT code (docs/php.md, "The JIT"), in the PHP walker's
 * object only (php_walker.bpf.c): that object's copy of the table unwinder calls it through the
 * TANDEM_UNWIND_UNTABLED_STEP hook where no table covers a pc.
 *
 * Under the hybrid VM, execute_ex enters JIT code by `jmp *(%r15)` and the JIT code runs on
 * execute_ex's own stack frame (no prologue, no stack adjustment; helpers are `call`ed and
 * return to it): a pc in the JIT buffer has the registers of execute_ex at that jump. The step
 * so makes the JIT frame's caller execute_ex at `execute_dispatch` (recorded as a frame of its
 * own, which the table walk then steps over with execute_ex's own row), after checking that
 * that row's CFA (rsp + the offset record 29 carries, from execute_ex's CFI), applied to the
 * JIT frame's sp, holds a return address that follows a call instruction in the engine's own
 * executable mapping. Anything else (a JIT stub that moved the stack) stops the walk, counted,
 * rather than attribute a wrong caller. Reads: 8 bytes of stack and 8 bytes of engine code.
 */

/* Whether the bytes before `return_address` end in a call instruction: e8 rel32, or ff /2 with
 * a register, a register-indirect, a disp8 or a disp32/rip-relative operand (REX-prefixed too). */
static __always_inline int php_follows_call(__u64 return_address)
{
    __u8 code[8];
    if (bpf_probe_read_user(code, sizeof(code), (void *)(return_address - 8)))
        return 0;
    if (code[3] == 0xe8)
        return 1;
    /* ff, modrm with reg 2: mod 11 (call *%reg) or mod 00 (call *(%reg)) at -2 */
    if (code[6] == 0xff && ((code[7] & 0xf8) == 0xd0 || ((code[7] & 0xf8) == 0x10 && (code[7] & 7) != 4 && (code[7] & 7) != 5)))
        return 1;
    /* mod 01: call *disp8(%reg) at -3 */
    if (code[5] == 0xff && (code[6] & 0xf8) == 0x50 && code[6] != 0x54)
        return 1;
    /* mod 10 (disp32) or mod 00 rm 101 (rip-relative) at -6 */
    if (code[2] == 0xff && ((code[3] & 0xf8) == 0x90 || code[3] == 0x15) && code[3] != 0x94)
        return 1;
    return 0;
}

/* The unwinder's TANDEM_UNWIND_UNTABLED_STEP hook for a PHP process's JIT code. */
static __always_inline int php_untabled_step(struct unwind_state *state, __u32 slot, __u64 lookup)
{
    struct tandem_php_process *php = bpf_map_lookup_elem(&php_processes, &state->pid);
    if (!php || php->jit_end == 0)
        return 0;
    if (lookup == php->execute_dispatch) {
        /* The step's execute_ex frame, and no table covers it (the engine's has not come yet):
         * the rbp fallback would guess on from a register JIT code may use; stop here. */
        count(TANDEM_COUNTER_PHP_JIT_STOPS);
        return -1;
    }
    if (lookup < php->jit_start || lookup >= php->jit_end)
        return 0;
    __u64 cfa = state->sp + php->dispatch_cfa_offset;
    __u64 return_address;
    if (cfa <= state->sp || bpf_probe_read_user(&return_address, sizeof(return_address), (void *)(cfa - 8)) ||
        return_address <= php->engine_start || return_address > php->engine_end ||
        !php_follows_call(return_address)) {
        count(TANDEM_COUNTER_PHP_JIT_STOPS);
        return -1;
    }
    /* One past the jump: the table walk looks up pc - 1 of a frame past the leaf. */
    state->pc = php->execute_dispatch + 1;
    count(TANDEM_COUNTER_PHP_JIT_STEPS);
    return 1;
}
