#!/usr/bin/env python3
"""Walks a running ruby's main-thread Ruby frames with the layout scripts/ruby-layouts/offsets.c
prints, as bpf/ruby.bpf.h does and as RubySymbolization decodes them, and prints one frame a
line: `label path:line`, a C method's as `<cfunc NAME>`. scripts/ruby-layouts.sh runs it against
Tests/Workloads/ruby/known_truth.rb to check the layout against the interpreter itself.

usage: walk_ruby.py PROBE PID LIBRUBY [DUMP_DIR]   (root: reads /proc/PID/mem, asks gdb for the fs base)

With DUMP_DIR, it also writes each walked iseq's copies as the walker emits them
(LABEL.body/.label/.path/.lines/.succ, bounded as bpf/tandem_ruby.h bounds them) and a line
`LABEL POSITION LINE` to DUMP_DIR/frames.txt: the fixtures of Tests/RubySymbolizationTests.
"""
import os
import re
import signal
import struct
import subprocess
import sys


def layout_of(probe):
    out = subprocess.run([probe, "-k"], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def tls_slot(library):
    """The file offset-relative address of the DTPMOD64 word for ruby_current_ec and its TLS offset."""
    relocations = subprocess.run(["readelf", "-rW", library], check=True, capture_output=True, text=True).stdout
    module = offset = None
    for line in relocations.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] == "ruby_current_ec":
            if fields[2] == "R_X86_64_DTPMOD64":
                module = int(fields[0], 16)
            elif fields[2] == "R_X86_64_DTPOFF64":
                offset = int(fields[3], 16)
    if module is None or offset is None:
        sys.exit(f"walk_ruby: no DTPMOD64/DTPOFF64 relocation of ruby_current_ec in {library}")
    return module, offset


def global_symbols(library):
    """ruby_global_symbols' ELF address, from objdump's reading of rb_sym_immortal_count (`mov
    ruby_global_symbols.last_id(%rip),%eax; ret`): an independent check of the aggregator's decode."""
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], check=True, capture_output=True, text=True).stdout
    start = next((int(f[0], 16) for f in (l.split() for l in symbols.splitlines()) if f[-1] == "rb_sym_immortal_count"), None)
    if start is None:
        return None
    code = subprocess.run(["objdump", "-d", f"--start-address={start:#x}", f"--stop-address={start + 7:#x}", library],
                          check=True, capture_output=True, text=True).stdout
    match = re.search(r"mov\s+0x[0-9a-f]+\(%rip\),%eax\s+# ([0-9a-f]+)", code)
    return int(match.group(1), 16) if match else None


def array_element(memory, layout, array, index):
    """Element `index` of an Array, or None past its length."""
    flags = memory.u64(array)
    if flags & layout["array_embed_flag"]:
        length = (flags & layout["array_embed_length_mask"]) >> layout["array_embed_length_shift"]
        elements = array + layout["array_embedded"]
    else:
        length = memory.u64(array + layout["array_heap_length"])
        elements = memory.u64(array + layout["array_heap_pointer"])
    return memory.u64(elements + 8 * index) if index < length else None


def method_name(memory, layout, symbols, ep):
    """A C-method frame's name: its method entry's def->original_id through the symbol table."""
    entry = memory.u64(ep - layout["ep_method_entry"])
    if memory.u64(entry) & layout["imemo_flags_mask"] != layout["imemo_method_entry_flags"]:
        return None
    identifier = memory.u64(memory.u64(entry + layout["method_entry_definition"]) + layout["definition_original_id"])
    serial = identifier >> layout["id_scope_shift"] if identifier > layout["last_operator_id"] else identifier
    serial &= 0xFFFFFFFF
    if serial == 0 or serial > memory.u32(symbols + layout["symbols_last_id"]):
        return None
    chunk = array_element(memory, layout, memory.u64(symbols + layout["symbols_ids"]), serial // layout["id_entry_unit"])
    if chunk is None:
        return None
    name = array_element(memory, layout, chunk, (serial % layout["id_entry_unit"]) * layout["id_entry_size"])
    return string(memory, layout, name) if name else None


def load_bias(pid, library):
    real = os.path.realpath(library)
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == real and int(fields[2], 16) == 0:
            return int(fields[0].split("-")[0], 16)
    sys.exit(f"walk_ruby: {real} is not mapped in {pid}")


def fs_base(pid):
    out = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "p/x $fs_base"],
                         capture_output=True, text=True).stdout
    match = re.search(r"\$1 = (0x[0-9a-f]+)", out)
    if not match:
        sys.exit("walk_ruby: gdb did not print the fs base")
    return int(match.group(1), 16)


class Memory:
    def __init__(self, pid):
        self.file = open(f"/proc/{pid}/mem", "rb")

    def read(self, address, size):
        self.file.seek(address)
        return self.file.read(size)

    def u64(self, address):
        return struct.unpack("<Q", self.read(address, 8))[0]

    def u32(self, address):
        return struct.unpack("<I", self.read(address, 4))[0]


def string(memory, layout, value):
    flags = memory.u64(value)
    if flags & layout["type_mask"] != layout["type_string"]:
        return None
    if flags & layout["string_no_embed_flag"]:
        length = memory.u64(value + layout["string_heap_length"])
        return memory.read(memory.u64(value + layout["string_heap_pointer"]), min(length, 512)).decode()
    length = (flags & layout["string_embed_length_mask"]) >> layout["string_embed_length_shift"]
    return memory.read(value + layout["string_embedded"], length).decode()


def path(memory, layout, pathobj):
    flags = memory.u64(pathobj)
    if flags & layout["type_mask"] == layout["type_array"]:
        if flags & layout["array_embed_flag"]:
            pathobj = memory.u64(pathobj + layout["array_embedded"])
        else:
            pathobj = memory.u64(memory.u64(pathobj + layout["array_heap_pointer"]))
    return string(memory, layout, pathobj)


def line(memory, layout, body, position):
    """The line of an instruction: iseq.c's get_insn_info_succinct_bitvector."""
    size = memory.u32(body + layout["body_insns_info_size"])
    entries = memory.u64(body + layout["body_insns_info_body"])
    entry = layout["insn_info_entry_size"]
    if size == 0:
        return 0
    if size == 1:
        index = 0
    else:
        table = memory.u64(body + layout["body_succ_index_table"])
        if position < 54:
            index = (memory.u64(table + (position // 9) * 8) >> ((position % 9) * 7)) & 0x7F
        else:
            block = table + 48 + ((position - 54) // 512) * 80
            bit = (position - 54) % 512
            small = bit // 64
            ranks = memory.u64(block + 8)
            small_rank = 0 if small == 0 else (ranks >> ((small - 1) * 9)) & 0x1FF
            bits = (memory.u64(block + 16 + small * 8) << (63 - bit % 64)) & 0xFFFFFFFFFFFFFFFF
            index = memory.u32(block) + small_rank + bin(bits).count("1")
        index -= 1
    return struct.unpack("<i", memory.read(entries + index * entry + layout["insn_info_line_no"], 4))[0]


def string_bytes(memory, layout, value, bound):
    text = string(memory, layout, value)
    return (text or "").encode()[:bound]


def path_bytes(memory, layout, pathobj, bound):
    return (path(memory, layout, pathobj) or "").encode()[:bound]


def dump(directory, memory, layout, body, label, position, line_number):
    name = label.replace(" ", "_").replace("<", "").replace(">", "")
    size = memory.u32(body + layout["body_insns_info_size"])
    entries = memory.u64(body + layout["body_insns_info_body"])
    files = {
        "body": memory.read(body, layout["body_bytes"]),
        "label": string_bytes(memory, layout, memory.u64(body + layout["body_location_label"]), 256),
        "path": path_bytes(memory, layout, memory.u64(body + layout["body_location_pathobj"]), 512),
        "lines": memory.read(entries, min(size * layout["insn_info_entry_size"], 3072)),
    }
    table = memory.u64(body + layout["body_succ_index_table"])
    # The walker copies 48 bytes of immediate part and the blocks that cover the iseq's positions.
    iseq_size = memory.u32(body + 4)
    blocks = 0 if iseq_size <= 54 else (iseq_size - 54 + 511) // 512
    files["succ"] = memory.read(table, min(48 + 80 * blocks, 1008)) if table and size > 1 else b""
    for suffix, data in files.items():
        with open(os.path.join(directory, f"{name}.{suffix}"), "wb") as out:
            out.write(data)
    with open(os.path.join(directory, "frames.txt"), "a") as out:
        out.write(f"{name} {position} {line_number}\n")


def main():
    probe, pid, library = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    directory = sys.argv[4] if len(sys.argv) > 4 else None
    layout = layout_of(probe)
    slot, tls_offset = tls_slot(library)
    base = fs_base(pid)
    bias = load_bias(pid, library)
    symbols = global_symbols(library)
    symbols = bias + symbols if symbols is not None else None
    memory = Memory(pid)
    os.kill(pid, signal.SIGSTOP)
    try:
        dtv = memory.u64(base + 8)
        module = memory.u64(bias + slot)
        block = memory.u64(dtv + 16 * module)
        ec = memory.u64(block + tls_offset)
        stack = memory.u64(ec + layout["ec_vm_stack"])
        # The first control frame (the top frame under <main>) is the VM's: skipped, as the walker does.
        end = stack + 8 * memory.u64(ec + layout["ec_vm_stack_size"]) - layout["control_frame_size"]
        cfp = memory.u64(ec + layout["ec_cfp"])
        print(f"# module {module} ec {ec:#x} cfp {cfp:#x} end {end:#x}")
        while cfp < end:
            iseq = memory.u64(cfp + layout["cfp_iseq"])
            pc = memory.u64(cfp + layout["cfp_pc"])
            ep = memory.u64(cfp + layout["cfp_ep"])
            frame_flags = memory.u64(ep)
            entry = " entry" if frame_flags & layout["frame_flag_finish"] else ""
            if (frame_flags & layout["frame_magic_mask"]) == layout["frame_magic_cfunc"]:
                name = method_name(memory, layout, symbols, ep) if symbols is not None else None
                print(f"<cfunc {name}>{entry}")
            elif iseq and pc and memory.u64(iseq) & layout["imemo_flags_mask"] == layout["imemo_iseq_flags"]:
                body = memory.u64(iseq + layout["iseq_body"])
                encoded = memory.u64(body + layout["body_iseq_encoded"])
                position = (pc - encoded) // 8
                if position:
                    position -= 1
                label = string(memory, layout, memory.u64(body + layout["body_location_label"]))
                file = path(memory, layout, memory.u64(body + layout["body_location_pathobj"]))
                line_number = line(memory, layout, body, position)
                print(f"{label} {os.path.basename(file or '?')}:{line_number}{entry}")
                if directory:
                    dump(directory, memory, layout, body, label, position, line_number)
            cfp += layout["control_frame_size"]
    finally:
        os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    main()
