/*
 * Prints one CPython version's `struct tandem_cpython_layout` (bpf/tandem_cpython.h) as a
 * Swift `CPythonLayout(...)` expression. Compiled by scripts/cpython-layouts.sh against
 * each version's own headers (with Py_BUILD_CORE for the internal structs), so every
 * offset is the compiler's, not a transcription.
 *
 * Also checks the `str` state bit-field: the aggregator decodes kind from bits 2-4,
 * compact from bit 5, ascii from bit 6; a version that puts them elsewhere fails here.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if PY_VERSION_HEX < 0x03080000 || PY_VERSION_HEX >= 0x030E0000
#error "tandem supports CPython 3.8 to 3.13"
#endif

#if PY_VERSION_HEX < 0x03090000
#include <internal/pycore_pystate.h> /* _PyRuntimeState and struct _is in 3.8 */
#else
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif

#define ABSENT 0xffff
/* Past the end of a member: where the header copy must reach for the walker to read it. */
#define END(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

static size_t code_end = 0;
static unsigned code_field(size_t offset, size_t end) {
    if (end > code_end) code_end = end;
    return (unsigned)offset;
}
#define CODE(member) code_field(offsetof(PyCodeObject, member), END(PyCodeObject, member))

/* The bit index of the lowest set bit of the state word once `assign` set one field to all ones. */
#define STATE_BIT(assign) state_bit(({ PyASCIIObject o; memset(&o, 0, sizeof o); o.state.assign; \
    unsigned w; memcpy(&w, (char *)&o + offsetof(PyASCIIObject, state), sizeof w); w; }))
static int state_bit(unsigned word) {
    for (int bit = 0; bit < 32; bit++)
        if (word & (1u << bit)) return bit;
    return -1;
}

/* One argument line: `absent` (CPythonLayout.absent) for a field the version lacks. */
static void field(const char *name, size_t value) {
    if (value == ABSENT) printf("            %s: absent,\n", name);
    else printf("            %s: %zu,\n", name, value);
}

int main(void) {
    /* The decoder's assumption about the state word: kind 2-4, compact 5, ascii 6. */
    if (STATE_BIT(kind = 7) != 2 || STATE_BIT(compact = 1) != 5 || STATE_BIT(ascii = 1) != 6) {
        fprintf(stderr, "%s: str state bits differ: kind at %d, compact at %d, ascii at %d\n", PY_VERSION,
                STATE_BIT(kind = 7), STATE_BIT(compact = 1), STATE_BIT(ascii = 1));
        return 1;
    }
    if (sizeof(((PyASCIIObject *)0)->length) != 8 || sizeof(((PyVarObject *)0)->ob_size) != 8) {
        fprintf(stderr, "%s: lengths are not 8 bytes\n", PY_VERSION);
        return 1;
    }

    unsigned interpreter_threads_head, thread_frame, cframe_current_frame = ABSENT;
    unsigned frame_previous, frame_code, frame_instruction, frame_owner = ABSENT, frame_is_entry = ABSENT;
    unsigned code_qualname = ABSENT, code_line_table, code_instructions = ABSENT;
    unsigned instruction_kind, entry_kind, owner_cstack = 0xff;

/* threads.head from 3.11 on (bpf/tandem_cpython.h's comment says 3.12). */
#if PY_VERSION_HEX < 0x030B0000
    interpreter_threads_head = offsetof(PyInterpreterState, tstate_head);
#else
    interpreter_threads_head = offsetof(PyInterpreterState, threads.head);
#endif

#if PY_VERSION_HEX < 0x030B0000
    thread_frame = offsetof(PyThreadState, frame);
    frame_previous = offsetof(PyFrameObject, f_back);
    frame_code = offsetof(PyFrameObject, f_code);
    frame_instruction = offsetof(PyFrameObject, f_lasti);
    entry_kind = 0;
#else
    frame_previous = offsetof(_PyInterpreterFrame, previous);
    frame_owner = offsetof(_PyInterpreterFrame, owner);
    code_qualname = CODE(co_qualname);
    code_instructions = CODE(co_code_adaptive);
    instruction_kind = 2;
#if PY_VERSION_HEX < 0x030D0000
    thread_frame = offsetof(PyThreadState, cframe);
    cframe_current_frame = offsetof(_PyCFrame, current_frame);
    frame_code = offsetof(_PyInterpreterFrame, f_code);
    frame_instruction = offsetof(_PyInterpreterFrame, prev_instr);
#else
    thread_frame = offsetof(PyThreadState, current_frame);
    frame_code = offsetof(_PyInterpreterFrame, f_executable);
    frame_instruction = offsetof(_PyInterpreterFrame, instr_ptr);
#endif
#if PY_VERSION_HEX < 0x030C0000
    frame_is_entry = offsetof(_PyInterpreterFrame, is_entry);
    entry_kind = 1;
#else
    entry_kind = 2;
    owner_cstack = FRAME_OWNED_BY_CSTACK;
#endif
#endif

#if PY_VERSION_HEX < 0x030A0000
    code_line_table = CODE(co_lnotab);
    instruction_kind = 0;
#else
    code_line_table = CODE(co_linetable);
#if PY_VERSION_HEX < 0x030B0000
    instruction_kind = 1;
#endif
#endif

    unsigned code_first_line = CODE(co_firstlineno);
    unsigned code_flags = CODE(co_flags);
    unsigned code_name = CODE(co_name);
    unsigned code_filename = CODE(co_filename);
    unsigned code_header_bytes = (unsigned)((code_end + 7) / 8 * 8);
    if (code_header_bytes > 256) {
        fprintf(stderr, "%s: code header of %u bytes is past TANDEM_CPYTHON_CODE_BYTES\n", PY_VERSION, code_header_bytes);
        return 1;
    }

    printf("        // %s\n", PY_VERSION);
    printf("        CPythonLayout(\n");
    printf("            version: .init(major: %d, minor: %d),\n", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    field("runtimeInterpretersHead", offsetof(_PyRuntimeState, interpreters.head));
    field("interpreterNext", offsetof(PyInterpreterState, next));
    field("interpreterThreadsHead", interpreter_threads_head);
    field("threadNext", offsetof(PyThreadState, next));
    field("threadID", offsetof(PyThreadState, thread_id));
    field("threadFrame", thread_frame);
    field("cframeCurrentFrame", cframe_current_frame);
    field("framePrevious", frame_previous);
    field("frameCode", frame_code);
    field("frameInstruction", frame_instruction);
    field("frameOwner", frame_owner);
    field("frameIsEntry", frame_is_entry);
    field("codeFirstLine", code_first_line);
    field("codeFlags", code_flags);
    field("codeName", code_name);
    field("codeQualifiedName", code_qualname);
    field("codeFileName", code_filename);
    field("codeLineTable", code_line_table);
    field("codeInstructions", code_instructions);
    field("codeHeaderBytes", code_header_bytes);
    field("unicodeLength", offsetof(PyASCIIObject, length));
    field("unicodeState", offsetof(PyASCIIObject, state));
    field("unicodeASCIIData", sizeof(PyASCIIObject));
    field("unicodeCompactData", sizeof(PyCompactUnicodeObject));
    field("bytesSize", offsetof(PyVarObject, ob_size));
    field("bytesData", offsetof(PyBytesObject, ob_sval));
    printf("            instructionKind: .%s,\n", instruction_kind == 0 ? "lastInstructionBytes"
                                                 : instruction_kind == 1 ? "lastInstructionUnits" : "instructionPointer");
    printf("            entryKind: .%s,\n", entry_kind == 0 ? "everyFrame" : entry_kind == 1 ? "isEntry" : "cStackShim");
    if (owner_cstack == 0xff) printf("            ownerCStack: absentOwner\n");
    else printf("            ownerCStack: %u\n", owner_cstack);
    printf("        ),\n");
    return 0;
}
