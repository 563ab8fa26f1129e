"""Walks this interpreter's own frames the way tandem's BPF walker will (docs/cpython.md),
with the layout the Swift test passes as JSON in argv[1], and prints what the walker
would send plus what the interpreter itself says about each frame: one JSON document.

It checks the contract against live memory: _PyRuntime -> interpreters -> thread states
found by thread_id == the thread's fs base, the frame chain, the instruction value, the
entry marks, and the code-record copies taken by following the code object's pointers.
"""
import base64
import ctypes
import json
import sys
import threading

LAYOUT = json.loads(sys.argv[1])
ABSENT = 0xFFFF
# bpf/tandem_cpython.h
MAX_FRAMES = 96
MAX_THREAD_STEPS = 128
NAME_BYTES = 320
FILE_BYTES = 576
LINE_TABLE_BYTES = 4128
ARCH_GET_FS = 0x1003
SYS_ARCH_PRCTL = 158


def pointer(address):
    return ctypes.c_void_p.from_address(address).value or 0


def field(name):
    return LAYOUT[name]


def fs_base():
    value = ctypes.c_ulong()
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(SYS_ARCH_PRCTL, ARCH_GET_FS, ctypes.byref(value)) == 0
    return value.value


def find_thread_state(thread_id):
    runtime = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    steps = 0
    interpreter = pointer(runtime + field("runtimeInterpretersHead"))
    while interpreter and steps < MAX_THREAD_STEPS:
        state = pointer(interpreter + field("interpreterThreadsHead"))
        while state and steps < MAX_THREAD_STEPS:
            if ctypes.c_ulong.from_address(state + field("threadID")).value == thread_id:
                return state
            state = pointer(state + field("threadNext"))
            steps += 1
        interpreter = pointer(interpreter + field("interpreterNext"))
    return 0


def str_copy(address, bound):
    """Header and characters, as long as the str says, at most `bound`."""
    state = ctypes.c_uint32.from_address(address + field("unicodeState")).value
    length = ctypes.c_int64.from_address(address + field("unicodeLength")).value
    kind = state >> 2 & 7
    header = field("unicodeASCIIData") if state >> 6 & 1 else field("unicodeCompactData")
    return ctypes.string_at(address, min(header + length * kind, bound))


def bytes_copy(address, bound):
    size = ctypes.c_int64.from_address(address + field("bytesSize")).value
    return ctypes.string_at(address, min(field("bytesData") + size, bound))


def encode(data):
    return base64.b64encode(data).decode()


def code_record(code):
    record = {
        "header": encode(ctypes.string_at(code, field("codeHeaderBytes"))),
        "nameCopy": encode(str_copy(pointer(code + field("codeName")), NAME_BYTES)),
        "qualifiedNameCopy": "",
        "fileCopy": encode(str_copy(pointer(code + field("codeFileName")), FILE_BYTES)),
        "lineTableCopy": encode(bytes_copy(pointer(code + field("codeLineTable")), LINE_TABLE_BYTES)),
    }
    if field("codeQualifiedName") != ABSENT:
        record["qualifiedNameCopy"] = encode(str_copy(pointer(code + field("codeQualifiedName")), NAME_BYTES))
    return record


def walk():
    """The walker's frames of the calling thread, leaf first, this function's own included."""
    state = find_thread_state(fs_base())
    if not state:
        return None
    frame = pointer(state + field("threadFrame"))
    if field("cframeCurrentFrame") != ABSENT and frame:
        frame = pointer(frame + field("cframeCurrentFrame"))
    frames = []
    while frame and len(frames) < MAX_FRAMES:
        owner = ctypes.c_uint8.from_address(frame + field("frameOwner")).value if field("frameOwner") != ABSENT else None
        if owner is not None and owner == field("ownerCStack"):
            # A C-stack shim: the frame before it (leafward) was the first of its evaluation.
            if frames:
                frames[-1]["entry"] = True
            frame = pointer(frame + field("framePrevious"))
            continue
        code = pointer(frame + field("frameCode"))
        if field("instructionKind") < 2:
            instruction = ctypes.c_int32.from_address(frame + field("frameInstruction")).value & 0xFFFFFFFF
        else:
            offset = pointer(frame + field("frameInstruction")) - (code + field("codeInstructions"))
            instruction = offset if 0 <= offset < 0xFFFFFFFF else 0xFFFFFFFF
        if field("entryKind") == 0:
            entry = True
        elif field("entryKind") == 1:
            entry = ctypes.c_uint8.from_address(frame + field("frameIsEntry")).value != 0
        else:
            entry = False
        frames.append(dict(code_record(code), code=code, instruction=instruction, entry=entry))
        frame = pointer(frame + field("framePrevious"))
    if frames and field("entryKind") == 2 and not frame:
        frames[-1]["entry"] = True
    return frames


def snapshot(label):
    """The walk from here, with the interpreter's own view of each caller frame."""
    expected = []
    frame = sys._getframe(1)
    while frame:
        code = frame.f_code
        expected.append({
            "code": id(code),
            "name": code.co_qualname if sys.version_info >= (3, 11) else code.co_name,
            "fileName": code.co_filename,
            "firstLine": code.co_firstlineno,
            "line": frame.f_lineno,
        })
        frame = frame.f_back
    frames = walk()
    # The leaf frames are the walk's own (pointer(), walk(), snapshot()): they ran on after
    # their instructions were read; the test matches the rest to `expected`.
    return {"label": label, "threadFound": frames is not None, "expected": expected, "frames": frames or []}


# The stack walked: Python calls, a method, a generator, a lambda called from C (map).

class Worker:
    def run(self, label):
        return next(self.steps(label))

    def steps(self, label):
        yield call_through_c(label)


def call_through_c(label):
    return list(map(lambda _: direct(label), [0]))[0]


def direct(label):
    return snapshot(label)


def main():
    results = [Worker().run("main thread")]
    other = []
    thread = threading.Thread(target=lambda: other.append(Worker().run("second thread")))
    thread.start()
    thread.join()
    results += other
    document = {
        "version": "%d.%d.%d" % sys.version_info[:3],
        "fsBaseIsThreadID": fs_base() == threading.get_ident(),
        "results": results,
    }
    json.dump(document, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")


main()
