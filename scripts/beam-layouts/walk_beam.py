#!/usr/bin/env python3
"""Walks a running BEAM VM's Erlang frames the way docs/beam.md's walker will, with a layout
given on the command line, and prints them: the check scripts/beam-layouts.sh runs before it
writes a layout into the table.

usage: walk_beam.py PID BEAM_SMP ADDRESSES LAYOUT
  ADDRESSES  the_active_code_index,r,erts_atom_table,beam_normal_exit (hex ELF addresses)
  LAYOUT     ranges_size,code_header_num_functions,code_header_functions,code_info_mfa,
             index_table_seg_table,atom_len,atom_name,code_header_line_table,
             line_table_fname_ptr,line_table_loc_size,line_table_loc_tab,line_table_func_tab
             (decimal byte offsets)

Stops the VM (SIGSTOP) for the walk; takes the pc and sp of its busiest scheduler thread
from /proc/PID/task/TID/syscall. Prints the module table's summary, then one line per
frame, leaf first: `module:function/arity`; before the frames, the file and lines of
known_truth's alpha/2, beta/2 and gamma/2 as their module's line table gives them. Needs root (reads /proc/PID/mem).
"""
import bisect
import os
import signal
import struct
import sys
import time

CODE_INDICES = 3
ATOM_TAG_MASK, ATOM_TAG, ATOM_SHIFT, ATOM_SEGMENT_SHIFT = 0x3F, 0x0B, 6, 10
MAX_STACK_WORDS = 2048


def main():
    pid = int(sys.argv[1])
    beam = os.path.realpath(sys.argv[2])
    active_ix, ranges, atom_table, normal_exit = (int(x, 16) for x in sys.argv[3].split(","))
    (ranges_size, header_count, header_functions, code_info_mfa, seg_table, atom_len, atom_name,
     line_table_offset, fname_ptr, loc_size, loc_tab, func_tab) = (int(x) for x in sys.argv[4].split(","))

    bias = None
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) >= 6 and os.path.realpath(fields[5]) == beam and fields[2] == "00000000":
            bias = int(fields[0].split("-")[0], 16)
            break
    if bias is None:
        sys.exit(f"walk_beam: {beam} is not mapped in process {pid}")

    memory = open(f"/proc/{pid}/mem", "rb", 0)

    def read(address, size):
        memory.seek(address)
        data = memory.read(size)
        if len(data) != size:
            raise OSError(f"short read at {address:#x}")
        return data

    def word(address):
        return struct.unpack("<Q", read(address, 8))[0]

    def atom(term):
        if term & ATOM_TAG_MASK != ATOM_TAG:
            return f"<not an atom: {term:#x}>"
        index = term >> ATOM_SHIFT
        segment = word(word(bias + atom_table + seg_table) + 8 * (index >> ATOM_SEGMENT_SHIFT))
        entry = word(segment + 8 * (index & ((1 << ATOM_SEGMENT_SHIFT) - 1)))
        length = struct.unpack("<h", read(entry + atom_len, 2))[0]
        if not 0 <= length <= 255:
            return f"<atom length {length}>"
        return read(word(entry + atom_name), length).decode("latin-1")

    busiest = max(os.listdir(f"/proc/{pid}/task"),
                  key=lambda tid: sum(int(x) for x in open(f"/proc/{pid}/task/{tid}/stat").read()
                                      .rsplit(")", 1)[1].split()[11:13]))
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(1000):
            fields = open(f"/proc/{pid}/task/{busiest}/syscall").read().split()
            if len(fields) >= 3:
                break
            time.sleep(0.001)
        else:
            sys.exit(f"walk_beam: thread {busiest} did not stop")
        sp, pc = int(fields[1], 16), int(fields[2], 16)
        index = struct.unpack("<I", read(bias + active_ix, 4))[0]
        if index >= CODE_INDICES:
            sys.exit(f"walk_beam: the active code index is {index}")
        modules, count = struct.unpack("<QQ", read(bias + ranges + ranges_size * index, 16))
        table = [struct.unpack("<QQ", read(modules + 16 * i, 16)) for i in range(count)]
        if any(table[i][1] > table[i + 1][0] for i in range(count - 1)):
            sys.exit("walk_beam: the module ranges are not sorted")
        starts = [start for start, _ in table]
        low, high = table[0][0], table[-1][1]
        print(f"modules {count} code {low:#x}-{high:#x} code-index {index}")

        def function(address):
            k = bisect.bisect_right(starts, address) - 1
            if k < 0 or address >= table[k][1]:
                return None
            header = table[k][0]
            functions = word(header + header_count)
            if not 0 < functions < 65536:
                return f"<{functions} functions>"
            pointers = struct.unpack(f"<{functions + 1}Q",
                                     read(header + header_functions, 8 * (functions + 1)))
            if list(pointers) != sorted(pointers):
                return "<functions not sorted>"
            j = bisect.bisect_right(pointers, address) - 1
            if not 0 <= j < functions:
                return "<module header>"
            module, name, arity = struct.unpack("<QQQ", read(pointers[j] + code_info_mfa, 24))
            return f"{atom(module)}:{atom(name)}/{arity}"

        def module_functions(name):
            for header, _ in table:
                first = word(header + header_functions)
                if function(first).startswith(name + ":"):
                    functions = word(header + header_count)
                    return [function(word(header + header_functions + 8 * i))
                            for i in range(functions)]
            return []

        print("module known_truth: " + " ".join(module_functions("known_truth")))

        def string(term):
            characters = []
            while term & 3 == 1 and len(characters) < 1024:
                head, term = struct.unpack("<QQ", read(term - 1, 16))
                characters.append(chr(head >> 4) if head & 0xF == 0xF else "?")
            return "".join(characters) if term == 0x3B else "<not a string>"

        def lines(header, index, module):
            """The file and lines of function `index`: its slice of the module's line table."""
            table = word(header + line_table_offset)
            if table == 0:
                return "<no line table>"
            size = struct.unpack("<i", read(table + loc_size, 4))[0]
            if size not in (2, 4):
                return f"<location size {size}>"
            first, start, end = word(table + func_tab), word(table + func_tab + 8 * index), \
                word(table + func_tab + 8 * index + 8)
            if not first <= start <= end or end - start > 8 * 4096:
                return "<line table not sorted>"
            entry = (start - first) // 8
            count = (end - start) // 8
            locations = struct.unpack(f"<{count}{'H' if size == 2 else 'I'}",
                                      read(word(table + loc_tab) + size * entry, size * count))
            files = {location >> 24 for location in locations}
            if len(files) != 1:
                return f"<files {sorted(files)}>"
            file = files.pop()
            name = module + ".erl" if file == 0 else string(word(word(table + fname_ptr) + 8 * (file - 1)))
            return name + ":" + ",".join(str(location & 0xFFFFFF) for location in locations)

        for header, _ in table:
            if (function(word(header + header_functions)) or "").startswith("known_truth:"):
                shown = []
                for index in range(word(header + header_count)):
                    name = function(word(header + header_functions + 8 * index))
                    if name.split(":")[1] in ("alpha/2", "beta/2", "gamma/2"):
                        shown.append(name.split(":")[1] + " " + lines(header, index, "known_truth"))
                print("lines " + " ".join(shown))
        frames = [function(pc) or f"<not JIT code: {pc:#x}>"]
        exit_value = word(bias + normal_exit)
        stack = []
        while len(stack) < MAX_STACK_WORDS:
            try:
                stack += struct.unpack("<256Q", read(sp + 8 * len(stack), 8 * 256))
            except OSError:
                break
        complete = False
        for value in stack:
            if value == exit_value:
                complete = True
                break
            if value & 3 == 0 and low <= value < high:
                frames.append(function(value))
        print("frames " + ("complete" if complete else "truncated"))
        for frame in frames:
            print(frame)
    finally:
        os.kill(pid, signal.SIGCONT)


main()
