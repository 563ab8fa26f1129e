"""Checks the V8 layout table against a live node process, the way tandem's V8 walker reads
it: stops the process (ptrace), follows the frame-pointer chain from its registers, and for
each JavaScript frame reads the JSFunction, its SharedFunctionInfo, the function's name (a
String, or the ScopeInfo's name slot), the Script's name and line ends, and for interpreted
frames the bytecode offset and the bytecode's source position table, to a line; for Sparkplug
(baseline) frames the bytecode offset from the pc through the code's bytecode-offset table
(`baseline_bytecode_offset`), then the same.

    python3 walk_node.py PID [ROUNDS]     prints one line per JavaScript frame per stop

Exit status 1 when no JavaScript frame could be read in any round. Root (or ptrace rights
over PID) needed.
"""
import ctypes
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_v8dbg  # noqa: E402

PTRACE_GETREGS, PTRACE_ATTACH, PTRACE_DETACH = 12, 16, 17
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class Memory:
    def __init__(self, pid):
        self.file = open(f'/proc/{pid}/mem', 'rb', buffering=0)

    def read(self, address, size):
        self.file.seek(address)
        data = self.file.read(size)
        if len(data) != size:
            raise OSError('short read')
        return data

    def u64(self, address):
        return struct.unpack('<Q', self.read(address, 8))[0]


class Walker:
    def __init__(self, memory, layout, bytecode_sizes):
        self.m = memory
        self.l = dict(layout)
        self.sizes = bytecode_sizes

    def object_type(self, tagged):
        if tagged & 3 != 1:
            return None
        mp = self.m.u64(tagged - 1 + self.l['heap_object_map'])
        if mp & 3 != 1:
            return None
        return struct.unpack('<H', self.m.read(mp - 1 + self.l['map_instance_type'], 2))[0]

    def string(self, tagged, depth=0):
        l = self.l
        kind = self.object_type(tagged)
        if kind is None or kind >= l['first_nonstring_type'] or depth > 4:
            return None
        base = tagged - 1
        length = struct.unpack('<i', self.m.read(base + l['string_length'], 4))[0]
        representation = kind & l['string_representation_mask']
        one_byte = (kind & l['string_encoding_mask']) == l['one_byte_string_tag']
        if representation == l['seq_string_tag']:
            raw = self.m.read(base + l['seq_string_chars'], min(length, 256) * (1 if one_byte else 2))
            return raw.decode('latin-1') if one_byte else raw.decode('utf-16-le', 'replace')
        if representation == l['thin_string_tag']:
            return self.string(self.m.u64(base + l['thin_string_actual']), depth + 1)
        if representation == l['cons_string_tag']:
            first = self.string(self.m.u64(base + l['cons_string_first']), depth + 1) or ''
            second = self.string(self.m.u64(base + l['cons_string_second']), depth + 1) or ''
            return first + second
        return f'<string representation {representation}>'

    def function_name(self, sfi):
        """A String, or ScopeInfo: the first string among its slots past the context locals."""
        l = self.l
        name_or_scope = self.m.u64(sfi + l['sfi_name_or_scope_info'])
        kind = self.object_type(name_or_scope)
        if kind is not None and kind < l['first_nonstring_type']:
            return self.string(name_or_scope)
        if kind != l['type_scope_info']:
            return None
        slots = name_or_scope - 1 + l['scope_info_slots']
        locals_count = self.m.u64(slots + 8 * l['scope_info_context_local_count']) >> 32
        first = l['scope_info_first_vars'] + 2 * locals_count
        for index in range(first, first + 6):
            name = self.string(self.m.u64(slots + 8 * index))
            if name is not None:
                return name
        return None

    def fixed_smis(self, tagged, limit=1 << 16):
        l = self.l
        if self.object_type(tagged) != l['type_fixed_array']:
            return []
        count = self.m.u64(tagged - 1 + l['fixed_array_length']) >> 32
        raw = self.m.read(tagged - 1 + l['fixed_array_data'], 8 * min(count, limit))
        return [v >> 32 for v in struct.unpack(f'<{len(raw) // 8}Q', raw)]

    def positions(self, tagged):
        l = self.l
        if self.object_type(tagged) != l['type_byte_array']:
            return b''
        count = self.m.u64(tagged - 1 + l['fixed_array_length']) >> 32
        return self.m.read(tagged - 1 + l['fixed_array_data'], min(count, 1 << 16))

    def byte_array(self, tagged, kind, data):
        if self.object_type(tagged) != kind:
            return None
        count = self.m.u64(tagged - 1 + self.l['fixed_array_length']) >> 32
        return self.m.read(tagged - 1 + data, min(count, 1 << 16))

    def baseline(self, code):
        """Baseline code's BytecodeArray (in its deoptimization-data slot), the bytecodes,
        the bytecode-offset table (in its source-position-table slot) and where its
        instructions start."""
        l = self.l
        bytecode = self.m.u64(code - 1 + l['code_deoptimization_data'])
        bytecodes = self.byte_array(bytecode, l['type_bytecode_array'], l['bytecode_array_data'])
        offsets = self.byte_array(self.m.u64(code - 1 + l['code_source_position_table']), l['type_byte_array'],
                                  l['fixed_array_data'])
        start = self.m.u64(code - 1 + l['code_instruction_start'])
        return bytecode, bytecodes, offsets, start

    def frame(self, fp, pc=None, leaf=False):
        l = self.l
        context = self.m.u64(fp - l['fp_context'])
        if context & 1 == 0:
            return ('typed', context >> 1)
        function = self.m.u64(fp - l['fp_function'])
        kind = self.object_type(function)
        if kind is None or not (l['type_js_function_first'] <= kind <= l['type_js_function_last']):
            return ('not-js', kind)
        sfi = self.m.u64(function - 1 + l['js_function_shared'])
        if self.object_type(sfi) != l['type_shared_function_info']:
            return ('bad-sfi', None)
        name = self.function_name(sfi - 1)
        script = self.m.u64(sfi - 1 + l['sfi_script_or_debug_info'])
        script_name, line_ends = None, []
        if self.object_type(script) == l['type_script']:
            script_name = self.string(self.m.u64(script - 1 + l['script_name']))
            line_ends = self.fixed_smis(self.m.u64(script - 1 + l['script_line_ends']))
        code = self.m.u64(function - 1 + l['js_function_code'])
        code_kind = None
        if self.object_type(code) == l['type_code']:
            flags = struct.unpack('<I', self.m.read(code - 1 + l['code_flags'], 4))[0]
            code_kind = (flags & l['code_kind_mask']) >> l['code_kind_shift']
        offset = self.m.u64(fp - l['fp_bytecode_offset'])
        line = None
        frame_kind = 'compiled'
        if code_kind is not None and code_kind < l['code_kind_baseline'] and offset & 1 == 0 and offset >> 32:
            frame_kind = 'interpreted'
            bytecode = self.m.u64(fp - l['fp_bytecode_array'])
            if self.object_type(bytecode) == l['type_bytecode_array']:
                delta = (offset >> 32) - (l['bytecode_array_data'] - 1)
                table = self.positions(self.m.u64(bytecode - 1 + l['bytecode_array_source_position_table']))
                position = source_position(table, delta)
                if position > 0 and line_ends:
                    line = line_of(line_ends, position - 1)
        if code_kind == l['code_kind_baseline'] and pc is not None:
            frame_kind = 'baseline'
            try:
                bytecode, bytecodes, offsets, start = self.baseline(code)
                if bytecodes is not None and offsets is not None and start <= pc:
                    # A return address is past its call; the sampled pc is at an instruction's start.
                    delta = baseline_bytecode_offset(offsets, bytecodes, self.sizes, pc - start + (1 if leaf else 0))
                    table = self.positions(self.m.u64(bytecode - 1 + l['bytecode_array_source_position_table']))
                    position = source_position(table, delta) if delta is not None else 0
                    if position > 0 and line_ends:
                        line = line_of(line_ends, position - 1)
            except (OSError, IndexError):
                pass  # code replaced or freed while the process was stopped between reads: no line
        return ('js', name, script_name, line, frame_kind, code_kind)


def uvlq(table, index):
    value, shift = 0, 0
    while True:
        byte = table[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80 == 0:
            return value, index


def bytecode_size(bytecodes, offset, sizes):
    """The size of the bytecode at offset with its prefix: Wide and DebugBreakWide (0, 2)
    scale its operands by 2, ExtraWide and DebugBreakExtraWide (1, 3) by 4."""
    code = bytecodes[offset]
    if code <= 3:
        return 1 + sizes[1 if code in (0, 2) else 2][bytecodes[offset + 1]]
    return sizes[0][code]


def baseline_bytecode_offset(offsets, bytecodes, sizes, pc_offset):
    """V8's BytecodeOffsetIterator: the table holds unsigned VLQ machine-code lengths, the
    prologue's first, then one per bytecode in order; pc_offset lies in (start, end] of the
    bytecode it returns (-1: the prologue)."""
    index, end = 0, 0
    value, index = uvlq(offsets, index)
    end += value
    bytecode = -1
    next_bytecode = 0
    while end < pc_offset:
        if index >= len(offsets) or next_bytecode >= len(bytecodes):
            return None
        value, index = uvlq(offsets, index)
        end += value
        bytecode = next_bytecode
        next_bytecode += bytecode_size(bytecodes, next_bytecode, sizes)
    return bytecode


def vlq(table, index):
    value, shift = 0, 0
    while True:
        byte = table[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80 == 0:
            break
    return (value >> 1) ^ -(value & 1), index


def source_position(table, code_offset):
    """The script offset + 1 (0: none) of the last entry at or before code_offset."""
    index, code, position = 0, -1, 0
    while index < len(table):
        delta, index = vlq(table, index)
        code += delta if delta >= 0 else -delta - 1
        if code > code_offset:
            break
        if index >= len(table):
            break
        step, index = vlq(table, index)
        position += step
    if position & 1:
        return 0  # external position
    return (position >> 1) & ((1 << 30) - 1)


def line_of(line_ends, offset):
    for number, end in enumerate(line_ends):
        if end >= offset:
            return number + 1
    return len(line_ends)


def stop_and_walk(pid, walker):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        raise OSError(ctypes.get_errno(), 'ptrace attach')
    os.waitpid(pid, 0)
    try:
        regs = (ctypes.c_ulonglong * 27)()
        libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs))
        fp, pc = regs[4], regs[16]
        frames = []
        for step in range(64):
            if fp == 0 or fp & 7:
                break
            try:
                frames.append(walker.frame(fp, pc, step == 0))
                fp, pc = walker.m.u64(fp), walker.m.u64(fp + 8)
            except OSError:
                break
        return regs[16], frames
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


def main():
    pid = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    exe = os.readlink(f'/proc/{pid}/exe')
    walker = Walker(Memory(pid), read_v8dbg.layout(exe), read_v8dbg.bytecode_sizes(exe))
    named = 0
    for round_ in range(rounds):
        try:
            pc, frames = stop_and_walk(pid, walker)
        except OSError:
            if round_ == 0:
                raise
            print(f'stop {round_}: the process is gone (a workload that ended)')
            break
        print(f'stop {round_}: pc {pc:#x}')
        for frame in frames:
            if frame[0] == 'js':
                named += 1
            print('   ', frame)
        time.sleep(0.05)
    sys.exit(0 if named else 1)


if __name__ == '__main__':
    main()
