#!/usr/bin/env python3
"""Walks the Java frames of a running JVM's threads as the BPF walker does (bpf/hotspot.bpf.h),
with the generated layout: stops each thread (ptrace), takes its registers and follows
compiled frames by their code blob's frame size and interpreter frames by rbp, until the
call stub. Prints, per thread, the frames leaf first: kind, class.method, bci.

Usage (root): walk_jvm.py PID [ROUNDS]
Frames of other code (libjvm's C++) end a thread's walk: the native unwinder takes those.
"""
import ctypes
import struct
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from dump_methods import Memory, layout, library_base, statics, symbol_text  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_GETREGS, PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 12, 0x4206, 0x4207, 17
MAX_FRAMES = 64


class Regs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()]


def registers(tid):
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        return None
    libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
    import os
    os.waitpid(tid, 0x40000000)  # __WALL
    regs = Regs()
    ok = libc.ptrace(PTRACE_GETREGS, tid, None, ctypes.byref(regs)) == 0
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    return regs if ok else None


class CodeCache:
    def __init__(self, memory, lay, heaps_address):
        self.memory, self.lay, self.heaps = memory, lay, []
        heaps = memory.u64(heaps_address)
        data = memory.u64(heaps + lay["growableArrayData"])
        for index in range(memory.i32(heaps + lay["growableArrayLength"])):
            heap = memory.u64(data + 8 * index)
            self.heaps.append((memory.u64(heap + lay["codeHeapMemory"] + lay["virtualSpaceLow"]),
                               memory.u64(heap + lay["codeHeapMemory"] + lay["virtualSpaceHigh"]),
                               memory.u64(heap + lay["codeHeapSegmentMap"] + lay["virtualSpaceLow"]),
                               memory.i32(heap + lay["codeHeapLog2SegmentSize"])))

    def blob(self, pc):
        """The code blob holding pc (segment map: each byte the distance back to its block's start)."""
        for low, high, segmap, shift in self.heaps:
            if not low <= pc < high:
                continue
            segment = (pc - low) >> shift
            for _ in range(64):
                tag = self.memory.read(segmap + segment, 1)[0]
                if tag == 0xff:
                    return None
                if tag == 0:
                    block = low + (segment << shift)
                    return block + self.lay["heapBlockSize"] if self.memory.read(block + 8, 1)[0] else None
                segment -= tag
        return None


def method_name(memory, lay, method):
    const_method = memory.u64(method + lay["methodConstMethod"])
    pool = memory.u64(const_method + lay["constMethodConstants"])
    holder = memory.u64(pool + lay["constantPoolPoolHolder"])
    klass = symbol_text(memory.read(memory.u64(holder + lay["klassName"]), 300), lay)
    name_index = memory.u16(const_method + lay["constMethodNameIndex"])
    name = symbol_text(memory.read(memory.u64(pool + lay["constantPoolSize"] + 8 * name_index), 300), lay)
    return klass.replace("/", ".") + "." + name, const_method


def leaf_rule(memory, pc, complete):
    """Where a compiled leaf's return address is when the pc is in a prologue or epilogue,
    from the code bytes around it (x86-64 C1/C2): (words from sp to the return address,
    whether the saved rbp is just below it), or None for a complete frame."""
    code = memory.read(pc - 7, 10)
    at, before = code[7:], code[:7]
    poll = bytes([0x49, 0x3B, 0xA7])  # cmp rsp, [r15 + disp32]: the return poll
    if at[0] == 0x5D:  # pop rbp: the frame is released, rbp still saved at [sp]
        return 1, True
    if at[0] == 0xC3 or at[:3] == poll or (at[:2] == bytes([0x0F, 0x87]) and before[:3] == poll):
        return 0, False  # past pop rbp: only the return address is left
    if pc < complete:
        if at[0] == 0x55:  # push rbp not yet done
            return 0, False
        if at[:3] in (bytes([0x48, 0x81, 0xEC]), bytes([0x48, 0x83, 0xEC])) or at[:3] == bytes([0x89, 0x84, 0x24]):
            # sub rsp / stack bang: nothing allocated yet; after C1's push rbp, rbp is at [sp]
            return (1, True) if before[6] == 0x55 else (0, False)
    return None


def walk(memory, lay, cache, stub_return, regs):
    pc, sp, fp, frames = regs.rip, regs.rsp, regs.rbp, []
    for depth in range(MAX_FRAMES):
        if pc == stub_return:
            frames.append(("call_stub", "", 0))
            return frames
        blob = cache.blob(pc)
        if blob is None:
            frames.append(("native", hex(pc), 0))
            return frames
        kind = memory.cstring(memory.u64(blob + lay["codeBlobName"]))
        frame_words = memory.i32(blob + lay["codeBlobFrameSize"])
        if kind == "Interpreter":
            method = memory.u64(fp + 8 * lay["interpreterFrameMethod"])
            bcp = regs.r13 if depth == 0 else memory.u64(fp + 8 * lay["interpreterFrameBCP"])
            name, const_method = method_name(memory, lay, method)
            frames.append(("interpreted", name, bcp - const_method - lay["constMethodSize"]))
            sp = memory.u64(fp + 8 * lay["interpreterFrameSenderSP"])
            pc = memory.u64(fp + 8)
            fp = memory.u64(fp)
            continue
        if kind in ("nmethod", "native nmethod"):
            name, _ = method_name(memory, lay, memory.u64(blob + lay["compiledMethodMethod"]))
            code_begin = memory.u64(blob + lay["codeBlobCodeBegin"])
            frames.append((kind, name, pc - code_begin))
        else:
            frames.append(("stub", kind, 0))
        complete = memory.u64(blob + lay["codeBlobCodeBegin"]) + memory.i32(blob + lay["codeBlobFrameCompleteOffset"])
        rule = leaf_rule(memory, pc, complete) if depth == 0 else None
        if rule is not None:
            words, saved_rbp = rule
            if saved_rbp:
                fp = memory.u64(sp + 8 * (words - 1))
            sp = sp + 8 * words
            pc = memory.u64(sp)
            sp += 8
            continue
        caller_sp = sp + 8 * frame_words
        pc = memory.u64(caller_sp - 8)
        if frame_words >= 2:
            fp = memory.u64(caller_sp - 16)
        sp = caller_sp
    return frames


def main():
    import os
    pid = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    base, path = library_base(pid)
    memory = Memory(pid)
    import re
    lay = layout(int(re.search(r"/java-(\d+)-", path).group(1)))
    static = statics(memory, base, path, lay)
    cache = CodeCache(memory, lay, static["CodeCache::_heaps"])
    stub_return = memory.u64(static["StubRoutines::_call_stub_return_address"])
    for _ in range(rounds):
        for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")):
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            regs = registers(tid)
            if regs is None:
                continue
            frames = walk(memory, lay, cache, stub_return, regs)
            if any(kind not in ("native",) for kind, _, _ in frames):
                print(tid, comm, " <- ".join(f"{k}:{n}@{b}" for k, n, b in frames))


if __name__ == "__main__":
    main()
