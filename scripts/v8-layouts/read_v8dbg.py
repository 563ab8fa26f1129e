"""Reads V8's postmortem metadata (the v8dbg_* data symbols) and V8's version out of a Node
executable, and turns them into the layout struct tandem's V8 walker and decoder share
(bpf/tandem_v8.h, Sources/V8Layouts). Used by scripts/v8-layouts.sh and by
walk_node.py, which checks the result against a live node process.

Fields the metadata lacks in V8 11.x (it lost the Code class's fields when Code was split
from InstructionStream, and never had JSFunction.code) are derived from fields it has,
by rules that hold for the V8 versions named at each rule; any other version is refused.
"""
import functools
import struct
import subprocess
import sys


class ELFData:
    """The initialized data of an ELF64 little-endian executable, by virtual address."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            self.data = f.read()
        if self.data[:4] != b'\x7fELF' or self.data[4] != 2 or self.data[5] != 1:
            raise SystemExit(f'v8-layouts: {path} is not a 64-bit little-endian ELF file')
        phoff, = struct.unpack_from('<Q', self.data, 0x20)
        phentsize, phnum = struct.unpack_from('<HH', self.data, 0x36)
        self.loads = []
        for i in range(phnum):
            p_type, _, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from('<IIQQQQQQ', self.data, phoff + i * phentsize)
            if p_type == 1:
                self.loads.append((vaddr, offset, filesz, memsz))

    def bytes(self, address, size):
        for vaddr, offset, filesz, _ in self.loads:
            if vaddr <= address and address + size <= vaddr + filesz:
                return self.data[offset + address - vaddr:offset + address - vaddr + size]
        raise SystemExit(f'v8-layouts: {size} bytes at {address:#x} lie in no loaded segment of {self.path}')

    def int32(self, address):
        for vaddr, offset, filesz, memsz in self.loads:
            if vaddr <= address < vaddr + memsz:
                if address + 4 - vaddr <= filesz:
                    return struct.unpack_from('<i', self.data, offset + address - vaddr)[0]
                return 0  # .bss: zero-initialized
        raise SystemExit(f'v8-layouts: address {address:#x} lies in no loaded segment of {self.path}')


@functools.lru_cache(maxsize=4)
def elf_data(path):
    return ELFData(path)


@functools.lru_cache(maxsize=4)
def nm_lines(path):
    """`nm -S path`'s lines (.symtab), read once per executable: a 99 MB node takes a while."""
    return subprocess.run(['nm', '-S', path], capture_output=True, text=True, check=True).stdout.splitlines()


def symbols(path):
    """name -> value of the 4-byte v8dbg_* and Version data symbols (from .symtab, as nm lists it)."""
    elf = elf_data(path)
    found = {}
    for line in nm_lines(path):
        parts = line.split()
        if len(parts) != 4 or parts[2] not in 'DdBbRr':
            continue
        name = parts[3]
        if name.startswith('v8dbg_') or name.startswith('_ZN2v88internal7Version'):
            found[name] = elf.int32(int(parts[0], 16))
    if not any(n.startswith('v8dbg_') for n in found):
        raise SystemExit(f'v8-layouts: {path} has no v8dbg_* symbols (V8 postmortem metadata)')
    return found


def version_of(found):
    try:
        return tuple(found[f'_ZN2v88internal7Version6{part}_E'] for part in ('major', 'minor', 'build', 'patch'))
    except KeyError as missing:
        raise SystemExit(f'v8-layouts: no V8 version symbol {missing}')


def layout(path):
    """The layout (field -> value, in bpf/tandem_v8.h's order) of the node executable at path."""
    s = symbols(path)
    major, minor, build, patch = version_of(s)
    if major != 11:
        raise SystemExit(f'v8-layouts: V8 {major}.{minor}.{build} in {path}: the derivation rules cover V8 11.x only')
    pointer = s['v8dbg_TaggedSize']
    if pointer != 8:
        raise SystemExit(f'v8-layouts: tagged size {pointer} in {path}: pointer compression is not supported')

    def get(name):
        key = 'v8dbg_' + name
        if key not in s:
            raise SystemExit(f'v8-layouts: {path} lacks {key}')
        return s[key]

    shared = get('class_JSFunction__shared__SharedFunctionInfo')
    code_positions = get('class_Code__source_position_table__ByteArray')
    # V8 11.1.204 to 11.7.368: JSFunction.code three slots past .shared (map, properties,
    # elements, shared, context, feedback_cell, code).
    js_function_code = shared + 3 * pointer if (major, minor, build) < (11, 7, 368) else shared - pointer
    # V8 11.x Code (the former CodeDataContainer): ..., source_position_table,
    # bytecode_offset_table / code_comments, instruction_start (a pointer), flags (uint32),
    # builtin_id (int16), kind_specific_flags (uint16, until 11.4.59), instruction_size (int).
    code_instruction_start = code_positions + 2 * pointer
    code_flags = code_instruction_start + pointer
    code_instruction_size = code_flags + 4 + (4 if (major, minor, build) < (11, 4, 59) else 0)
    fixed_length = get('class_FixedArrayBase__length__SMI')
    # BytecodeArray: length, constant_pool, handler_table, source_position_table.
    bytecode_positions = fixed_length + 3 * pointer
    # Since V8 9.6.138: JS_FUNCTION_TYPE and the 14 constructor types after it.
    js_function_first = get('type_JSFunction__JS_FUNCTION_TYPE')
    js_function_last = js_function_first + 14
    # ScopeInfo derives from HeapObject (the symbol says so): its slots follow the map.
    if 'v8dbg_parent_ScopeInfo__HeapObject' not in s:
        raise SystemExit(f'v8-layouts: {path}: ScopeInfo is not a HeapObject (V8 before 9.1) and not supported')
    map_offset = get('class_HeapObject__map__Map')

    return [
        ('version', (major << 24) | (minor << 16) | build),
        ('patch', patch),
        ('fp_context', -get('off_fp_context')),
        ('fp_function', -get('off_fp_function')),
        ('fp_bytecode_array', -get('off_fp_bytecode_array')),
        ('fp_bytecode_offset', -get('off_fp_bytecode_offset')),
        ('heap_object_map', map_offset),
        ('map_instance_type', get('class_Map__instance_type__uint16_t')),
        ('type_js_function_first', js_function_first),
        ('type_js_function_last', js_function_last),
        ('type_shared_function_info', get('type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE')),
        ('type_code', get('type_Code__CODE_TYPE')),
        ('type_script', get('type_Script__SCRIPT_TYPE')),
        ('type_scope_info', get('type_ScopeInfo__SCOPE_INFO_TYPE')),
        ('type_bytecode_array', get('type_BytecodeArray__BYTECODE_ARRAY_TYPE')),
        ('type_byte_array', get('type_ByteArray__BYTE_ARRAY_TYPE')),
        ('type_fixed_array', get('type_FixedArray__FIXED_ARRAY_TYPE')),
        ('first_nonstring_type', get('FirstNonstringType')),
        ('js_function_shared', shared),
        ('js_function_code', js_function_code),
        ('sfi_function_data', get('class_SharedFunctionInfo__function_data__Object')),
        ('sfi_name_or_scope_info', get('class_SharedFunctionInfo__name_or_scope_info__Object')),
        ('sfi_script_or_debug_info', get('class_SharedFunctionInfo__script_or_debug_info__HeapObject')),
        ('sfi_flags', get('class_SharedFunctionInfo__flags__int')),
        ('code_deoptimization_data', code_positions - pointer),
        ('code_source_position_table', code_positions),
        ('code_instruction_start', code_instruction_start),
        ('code_flags', code_flags),
        ('code_instruction_size', code_instruction_size),
        ('code_kind_mask', get('CodeKindFieldMask')),
        ('code_kind_shift', get('CodeKindFieldShift')),
        ('code_kind_interpreted', get('CodeKindInterpretedFunction')),
        ('code_kind_baseline', get('CodeKindBaseline')),
        ('fixed_array_length', fixed_length),
        ('fixed_array_data', get('class_FixedArray__data__uintptr_t')),
        ('bytecode_array_source_position_table', bytecode_positions),
        ('bytecode_array_data', get('class_BytecodeArray__data__uintptr_t')),
        ('script_source', get('class_Script__source__Object')),
        ('script_name', get('class_Script__name__Object')),
        ('script_line_ends', get('class_Script__line_ends__Object')),
        ('scope_info_slots', map_offset + pointer),
        ('scope_info_context_local_count', get('scopeinfo_idx_ncontextlocals')),
        ('scope_info_first_vars', get('scopeinfo_idx_first_vars')),
        ('string_length', get('class_String__length__int32_t')),
        ('seq_string_chars', get('class_SeqOneByteString__chars__char')),
        ('cons_string_first', get('class_ConsString__first__String')),
        ('cons_string_second', get('class_ConsString__second__String')),
        ('thin_string_actual', get('class_ThinString__actual__String')),
        ('string_representation_mask', get('StringRepresentationMask')),
        ('string_encoding_mask', get('StringEncodingMask')),
        ('one_byte_string_tag', get('OneByteStringTag')),
        ('seq_string_tag', get('SeqStringTag')),
        ('cons_string_tag', get('ConsStringTag')),
        ('thin_string_tag', get('ThinStringTag')),
        ('frame_type_entry', get('frametype_EntryFrame')),
        ('frame_type_exit', get('frametype_ExitFrame')),
        # Optimized code's DeoptimizationData (a FixedArray): the slots of the inlined-function
        # count (a Smi), of the literal array (a WeakFixedArray whose first count entries are
        # the inlined SharedFunctionInfos) and of the inlining positions (a ByteArray).
        ('type_weak_fixed_array', get('type_WeakFixedArray__WEAK_FIXED_ARRAY_TYPE')),
        ('deoptimization_inlined_count', get('DeoptimizationDataInlinedFunctionCountIndex')),
        ('deoptimization_literal_array', get('DeoptimizationDataLiteralArrayIndex')),
        ('deoptimization_inlining_positions', get('DeoptimizationDataInliningPositionsIndex')),
    ]


if __name__ == '__main__':
    for name, value in layout(sys.argv[1] if len(sys.argv) > 1 else '/usr/bin/node'):
        print(name, value)


BYTECODE_SIZES = '_ZN2v88internal11interpreter9Bytecodes14kBytecodeSizesE'


def bytecode_sizes(path):
    """V8's `Bytecodes::kBytecodeSizes` (uint8_t[3][kBytecodeCount]: each bytecode's size with
    its operands at operand scale 1, 2 and 4, prefix excluded), read from the executable's
    .rodata by its .symtab entry; what decodes a baseline code's bytecode-offset table."""
    for line in nm_lines(path):
        parts = line.split()
        if len(parts) == 4 and parts[3] == BYTECODE_SIZES:
            size = int(parts[1], 16)
            if size % 3:
                raise SystemExit(f'v8-layouts: {BYTECODE_SIZES} in {path} is {size} bytes, not 3 rows')
            raw = elf_data(path).bytes(int(parts[0], 16), size)
            return [list(raw[row * size // 3:(row + 1) * size // 3]) for row in range(3)]
    raise SystemExit(f'v8-layouts: {path} has no {BYTECODE_SIZES} symbol (bytecode sizes for Sparkplug lines)')
