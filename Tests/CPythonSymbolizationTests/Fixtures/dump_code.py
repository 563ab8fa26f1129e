"""Dumps code objects as tandem's BPF walker copies them into code records, with what
CPythonSymbolization must decode from them: one JSON document on stdout.

Runs under every supported CPython (3.8 to 3.13); make-fixtures.sh runs it under each.
Each copy is `ctypes.string_at(id(obj), n)`: the object's bytes from its first one, `n`
bounded as bpf/tandem_cpython.h bounds it and by the object's own stated length, so a
copy is cut exactly where the walker's would be.
"""
import base64
import ctypes
import dis
import json
import sys

# bpf/tandem_cpython.h
CODE_BYTES = 256
NAME_BYTES = 320
FILE_BYTES = 576
LINE_TABLE_BYTES = 4128

# CPythonLayout.codeHeaderBytes and .unicodeCompactData (sizeof(PyCompactUnicodeObject)) of
# each minor version, checked by the Swift test against the table. (sys.getsizeof of a
# non-ASCII str also counts its UTF-8 cache from 3.12 on: it cannot give the header.)
CODE_HEADER_BYTES = {8: 128, 9: 128, 10: 128, 11: 192, 12: 200, 13: 208}
COMPACT_DATA_BYTES = {8: 72, 9: 72, 10: 72, 11: 72, 12: 56, 13: 56}
MINOR = sys.version_info.minor
COMPACT_DATA = COMPACT_DATA_BYTES[MINOR]
ASCII_DATA = sys.getsizeof("") - 1           # sizeof(PyASCIIObject), then a NUL
BYTES_DATA = sys.getsizeof(b"") - 1          # offsetof(PyBytesObject, ob_sval), then a NUL


# The functions whose code objects are dumped.

def plain(a, b):
    total = a + b
    if total > 10:
        total -= 10
    return total


class Shape:
    def area(self, width, height):
        result = width * height
        return result

    @staticmethod
    def unit():
        return Shape()


def outer(value):
    def inner(scale):
        return value * scale

    return inner


def größe(maß):
    return maß * 2


def 関数の名前(引数):
    結果 = 引数 + 1
    return 結果


def 𠀀𠀁(x):
    return x


def with_finally(x):
    try:
        y = x + 1
    finally:
        x = 0
    return y


def multi_line_condition(a, b):
    """Lines that go backwards: negative increments in every table format."""
    while (a <
           b):
        a += 1
    return (a
            if b else
            b)


def counter(limit):
    index = 0
    while index < limit:
        yield index
        index += 1


square = lambda x: x * x

# A name longer than a name copy holds: its copy is cut.
exec("def " + "a_function_name_that_is_far_too_long_" * 10 + "():\n    return 1\n")
long_named = [value for key, value in globals().items() if key.startswith("a_function_name_")][0]


def long_function_source():
    """600 statements, then a jump of 300 lines: a line table past the copy's bound from
    3.11 on, and line increments larger than one byte in 3.8-3.10."""
    lines = ["def long_function(x):"]
    lines += ["    x = x + %d" % index for index in range(600)]
    lines += [""] * 300
    lines += ["    return x"]
    return "\n".join(lines) + "\n"


# Compiled under a file name with Cyrillic and a character outside the BMP (a UCS-4 str).
namespace = {}
exec(compile(long_function_source(), "/tmp/tandem fixtures/модуль_𠀀.py", "exec"), namespace)
long_function = namespace["long_function"]

FUNCTIONS = [plain, Shape.area, Shape.unit, outer, outer(3), größe, 関数の名前, 𠀀𠀁, with_finally, multi_line_condition,
             counter, square,
             long_named, long_function]


def str_copy(text, bound):
    """The walker's copy of a str: header, then length characters of the str's kind."""
    widest = max((ord(c) for c in text), default=0)
    if widest < 0x80:
        size = ASCII_DATA + len(text)
    else:
        kind = 1 if widest < 0x100 else 2 if widest < 0x10000 else 4
        size = COMPACT_DATA + kind * len(text)
    copied = min(size, bound)
    return ctypes.string_at(id(text), copied), copied < size


def bytes_copy(data, bound):
    size = BYTES_DATA + len(data)
    copied = min(size, bound)
    return ctypes.string_at(id(data), copied), copied < size


def line_ranges(code):
    """[start, end, line] of instruction values (as tandem_cpython_frame.instruction holds
    them) by the interpreter's own mapping; line None: no line."""
    ranges = []
    if MINOR <= 9:
        # f_lasti in bytes; dis.findlinestarts follows co_lnotab as PyCode_Addr2Line does.
        starts = list(dis.findlinestarts(code))
        for index, (start, line) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(code.co_code)
            ranges.append([start, end, line])
    else:
        # co_lines: (start byte, end byte, line); 3.10 sends code units, 3.11+ bytes.
        unit = 2 if MINOR == 10 else 1
        for start, end, line in code.co_lines():
            if start >= end:
                continue
            if ranges and ranges[-1][2] == line and ranges[-1][1] == start // unit:
                ranges[-1][1] = end // unit
            else:
                ranges.append([start // unit, end // unit, line])
    return ranges


def record(function):
    code = function.__code__ if hasattr(function, "__code__") else function
    qualname = code.co_qualname if MINOR >= 11 else None
    name_copy, name_cut = str_copy(code.co_name, NAME_BYTES)
    qualname_copy, qualname_cut = str_copy(qualname, NAME_BYTES) if qualname is not None else (b"", False)
    file_copy, file_cut = str_copy(code.co_filename, FILE_BYTES)
    table = code.co_lnotab if MINOR <= 9 else code.co_linetable
    table_copy, table_cut = bytes_copy(table, LINE_TABLE_BYTES)
    shown_name, shown_cut = (qualname, qualname_cut) if qualname is not None else (code.co_name, name_cut)
    return {
        "name": shown_name,
        "nameIsCut": shown_cut,
        "fileName": code.co_filename,
        "fileNameIsCut": file_cut,
        "firstLine": code.co_firstlineno,
        "lineTableIsCut": table_cut,
        "header": base64.b64encode(ctypes.string_at(id(code), CODE_HEADER_BYTES[MINOR])).decode(),
        "nameCopy": base64.b64encode(name_copy).decode(),
        "qualifiedNameCopy": base64.b64encode(qualname_copy).decode(),
        "fileCopy": base64.b64encode(file_copy).decode(),
        "lineTableCopy": base64.b64encode(table_copy).decode(),
        "lines": line_ranges(code),
    }


def main():
    assert CODE_HEADER_BYTES[MINOR] <= CODE_BYTES
    document = {
        "version": "%d.%d.%d" % sys.version_info[:3],
        "minor": MINOR,
        "codeHeaderBytes": CODE_HEADER_BYTES[MINOR],
        "unicodeCompactData": COMPACT_DATA,
        "unicodeASCIIData": ASCII_DATA,
        "codes": [record(function) for function in FUNCTIONS],
    }
    json.dump(document, sys.stdout, ensure_ascii=False, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


main()
