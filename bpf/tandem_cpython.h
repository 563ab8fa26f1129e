/*
 * CPython frames (docs/cpython.md): what the BPF walker, the sampler and the
 * aggregator share. Included at the end of tandem_sampler.h; the Swift side sees it through
 * the CTandemBPF module. Only <linux/types.h> types.
 *
 * The layouts are the sampler's own constants (Sources/CPythonLayouts), one per
 * supported minor version, copied into the cpython_layouts map at load. The
 * aggregator names a layout by its index; it never sends an offset.
 */
#ifndef TANDEM_CPYTHON_H
#define TANDEM_CPYTHON_H

#include <linux/types.h>

/* Python frames kept per sample, leaf first; deeper stacks keep their leaf side and are flagged. */
#define TANDEM_CPYTHON_MAX_FRAMES 96
/* Layout slots in the cpython_layouts map (3.8 to 3.13 use six). */
#define TANDEM_CPYTHON_MAX_LAYOUTS 16
/* Processes with a CPython interpreter the walker follows. */
#define TANDEM_CPYTHON_MAX_PROCESSES 4096
/* Interpreters x threads a walk may visit to find the sampled thread's state. */
#define TANDEM_CPYTHON_MAX_THREAD_STEPS 128
/* Bytes of a code object's header copied into a code record (every field the layout names is below). */
#define TANDEM_CPYTHON_CODE_BYTES 256
/* Bytes of a str object (header + characters) copied for a name / qualified name, and for a file name. */
#define TANDEM_CPYTHON_NAME_BYTES 320
#define TANDEM_CPYTHON_FILE_BYTES 576
/* Bytes of the line table's bytes object (header + table) copied. */
#define TANDEM_CPYTHON_LINE_TABLE_BYTES 4128
/* An absent field of a layout. */
#define TANDEM_CPYTHON_ABSENT 0xffff

/* What a frame's instruction field holds (layout.instruction_kind). */
enum tandem_cpython_instruction_kind {
    /* f_lasti: int, byte offset of the last instruction (3.8, 3.9) */
    TANDEM_CPYTHON_LASTI_BYTES = 0,
    /* f_lasti: int, index of the last code unit (2 bytes each) (3.10) */
    TANDEM_CPYTHON_LASTI_UNITS = 1,
    /* prev_instr / instr_ptr: pointer into the code object's inline bytecode (3.11+) */
    TANDEM_CPYTHON_INSTRUCTION_POINTER = 2,
};

/* How the walker tells where one C-level evaluation ends (layout.entry_kind). */
enum tandem_cpython_entry_kind {
    /* Every frame has its own _PyEval_EvalFrameDefault call (3.8 to 3.10). */
    TANDEM_CPYTHON_ENTRY_EVERY_FRAME = 0,
    /* The frame's is_entry byte is set (3.11). */
    TANDEM_CPYTHON_ENTRY_IS_ENTRY = 1,
    /* The previous frame is a shim owned by the C stack (owner == owner_cstack; 3.12+). */
    TANDEM_CPYTHON_ENTRY_CSTACK_SHIM = 2,
};

/*
 * Byte offsets into one minor version's structs. TANDEM_CPYTHON_ABSENT where the
 * version has no such field.
 */
struct tandem_cpython_layout {
    __u32 version;                      /* major << 8 | minor, e.g. 0x030b; 0: empty slot */
    __u16 runtime_interpreters_head;    /* _PyRuntimeState.interpreters.head */
    __u16 interpreter_next;             /* PyInterpreterState.next */
    __u16 interpreter_threads_head;     /* .tstate_head (3.8-3.10), .threads.head (3.11+) */
    __u16 thread_next;                  /* PyThreadState.next */
    __u16 thread_id;                    /* PyThreadState.thread_id: pthread_self(), the thread's fs base */
    __u16 thread_frame;                 /* .frame (3.8-3.10), .cframe (3.11, 3.12), .current_frame (3.13) */
    __u16 cframe_current_frame;         /* _PyCFrame.current_frame (3.11, 3.12); ABSENT: thread_frame is the frame */
    __u16 frame_previous;               /* PyFrameObject.f_back / _PyInterpreterFrame.previous */
    __u16 frame_code;                   /* .f_code / .f_executable (3.13) */
    __u16 frame_instruction;            /* .f_lasti / .prev_instr / .instr_ptr (instruction_kind) */
    __u16 frame_owner;                  /* .owner (char, 3.11+) */
    __u16 frame_is_entry;               /* .is_entry (char, 3.11 only) */
    __u16 code_first_line;              /* PyCodeObject.co_firstlineno (int) */
    __u16 code_flags;                   /* .co_flags (int) */
    __u16 code_name;                    /* .co_name (str *) */
    __u16 code_qualname;                /* .co_qualname (str *, 3.11+) */
    __u16 code_filename;                /* .co_filename (str *) */
    __u16 code_line_table;              /* .co_lnotab (3.8, 3.9) / .co_linetable (3.10+) (bytes *) */
    __u16 code_instructions;            /* offsetof(PyCodeObject, co_code_adaptive) (3.11+) */
    __u16 code_header_bytes;            /* bytes copied from a code object: past every code_ field, <= TANDEM_CPYTHON_CODE_BYTES */
    __u16 unicode_length;               /* PyASCIIObject.length (Py_ssize_t) */
    __u16 unicode_state;                /* PyASCIIObject.state (bit-field word: kind bits 2-4, compact bit 5, ascii bit 6) */
    __u16 unicode_ascii_data;           /* sizeof(PyASCIIObject): characters of a compact ASCII str */
    __u16 unicode_compact_data;         /* sizeof(PyCompactUnicodeObject): characters of a compact non-ASCII str */
    __u16 bytes_size;                   /* PyVarObject.ob_size of a bytes object */
    __u16 bytes_data;                   /* offsetof(PyBytesObject, ob_sval) */
    __u8 instruction_kind;              /* enum tandem_cpython_instruction_kind */
    __u8 entry_kind;                    /* enum tandem_cpython_entry_kind */
    __u8 owner_cstack;                  /* owner value of C-stack shim frames (3.12+), else 0xff */
    __u8 reserved;
};

/* The value of cpython_processes: the process's interpreter, as the sampler checked it. */
struct tandem_cpython_process {
    __u64 runtime_address;              /* &_PyRuntime in the process */
    __u32 layout;                       /* index into cpython_layouts */
    __u32 reserved;
};

/* The key of cpython_code_sent: the sampler deletes one when it drops the code record. */
struct tandem_cpython_code_key {
    __u64 code;
    __u32 pid;
    __u32 fingerprint;
};

/* tandem_cpython_frame.flags */
enum tandem_cpython_frame_flags {
    /* The frame is the first its C-level evaluation ran: toward the root, a native
     * _PyEval_EvalFrameDefault frame comes before the next Python frame. */
    TANDEM_CPYTHON_FRAME_ENTRY = 1,
    /* The code object could not be read: no fingerprint, no code record. */
    TANDEM_CPYTHON_FRAME_CODE_UNREADABLE = 2,
};

/*
 * One Python frame. instruction: for LASTI kinds f_lasti as is (may be -1: not
 * started); for INSTRUCTION_POINTER the byte offset of the pointer from the code
 * object's inline bytecode (code + code_instructions); 0xffffffff when out of range.
 */
struct tandem_cpython_frame {
    __u64 code;
    __u32 fingerprint;
    __u32 instruction;
    __u32 flags;
    __u32 reserved;
};

/* tandem_cpython_walk.flags */
enum tandem_cpython_walk_flags {
    /* More than TANDEM_CPYTHON_MAX_FRAMES frames, or the chain could not be followed to its end. */
    TANDEM_CPYTHON_WALK_TRUNCATED = 1,
    /* The sampled thread has no thread state in the interpreter (not a Python thread, or not found). */
    TANDEM_CPYTHON_WALK_NO_THREAD = 2,
    /* A read of the interpreter's structures failed. */
    TANDEM_CPYTHON_WALK_READ_ERROR = 4,
};

/* The walker's ring-buffer records (numbers tandem_interpreters.h gives CPython). */
enum tandem_cpython_event_kind {
    /* A sample of a CPython process: struct tandem_cpython_sample_event. */
    TANDEM_EVENT_CPYTHON_SAMPLE = 4,
    /* A code object seen for the first time in the stream: struct tandem_cpython_code_event. */
    TANDEM_EVENT_CPYTHON_CODE = 5,
};

/* The walker's indexes of the counters array (tandem_interpreters.h gives CPython 14-17). */
enum tandem_cpython_counter {
    /* samples of a process with a checked interpreter, */
    TANDEM_COUNTER_CPYTHON_WALKS = 14,
    /* ... of which had at least one Python frame, */
    TANDEM_COUNTER_CPYTHON_FRAMES_FOUND = 15,
    /* code records written, and code records lost to a full ring buffer. */
    TANDEM_COUNTER_CPYTHON_CODE_RECORDS = 16,
    TANDEM_COUNTER_CPYTHON_CODE_RINGBUF_FULL = 17,
};

/* Appended to a sample of a CPython process (TANDEM_EVENT_CPYTHON_SAMPLE). */
struct tandem_cpython_walk {
    __u32 count;
    __u32 flags;                        /* enum tandem_cpython_walk_flags */
    struct tandem_cpython_frame frames[TANDEM_CPYTHON_MAX_FRAMES];
};

/* tandem_cpython_code_event.flags: which copies were cut at their bound or unreadable. */
enum tandem_cpython_code_flags {
    TANDEM_CPYTHON_CODE_NAME_CUT = 1,
    TANDEM_CPYTHON_CODE_QUALNAME_CUT = 2,
    TANDEM_CPYTHON_CODE_FILE_CUT = 4,
    TANDEM_CPYTHON_CODE_LINE_TABLE_CUT = 8,
    TANDEM_CPYTHON_CODE_NAME_UNREADABLE = 16,
    TANDEM_CPYTHON_CODE_QUALNAME_UNREADABLE = 32,
    TANDEM_CPYTHON_CODE_FILE_UNREADABLE = 64,
    TANDEM_CPYTHON_CODE_LINE_TABLE_UNREADABLE = 128,
};

/*
 * A code object the walker saw for the first time in this stream
 * (TANDEM_EVENT_CPYTHON_CODE): raw copies of the object's header and of the
 * objects it points to, each from the object's first byte, bounded; the
 * aggregator parses them with the same layout. *_bytes: bytes valid in each.
 */
/* A sample of a process whose interpreter the walker follows: the sample, then its Python frames. */
struct tandem_cpython_sample_event {
    struct tandem_sample_event sample;
    struct tandem_cpython_walk walk;
};

struct tandem_cpython_code_event_fields {
    __u32 kind;
    __u32 pid;
    __u64 code;
    __u32 fingerprint;
    __u32 layout;
    __u32 flags;                        /* enum tandem_cpython_code_flags */
    __u16 header_bytes;
    __u16 name_bytes;
    __u16 qualname_bytes;
    __u16 file_bytes;
    __u16 line_table_bytes;
    __u16 reserved;
};

/* The copies follow the fields, each at its full bound (the sampler reads them by offset). */
struct tandem_cpython_code_event {
    struct tandem_cpython_code_event_fields fields;
    __u8 header[TANDEM_CPYTHON_CODE_BYTES];
    __u8 name[TANDEM_CPYTHON_NAME_BYTES];
    __u8 qualname[TANDEM_CPYTHON_NAME_BYTES];
    __u8 file[TANDEM_CPYTHON_FILE_BYTES];
    __u8 line_table[TANDEM_CPYTHON_LINE_TABLE_BYTES];
};

#endif
