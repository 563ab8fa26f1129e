/*
 * The table unwinder's map structs (bpf/unwind_tables.bpf.h), shared with the Swift
 * loader (Sources/UnwindTableLoading) through the CTandemBPF module. Included by
 * tandem_sampler.h; plain fixed-size C structs, only <linux/types.h> types.
 */
#ifndef TANDEM_UNWIND_H
#define TANDEM_UNWIND_H

#include <linux/types.h>

/*
 * Unwind tables (docs/unwind-tables.md), loaded by the sampler from the
 * aggregator's control records. One big array of entries shared by all tables,
 * a table index, and per process the mappings that have a table.
 */
#define TANDEM_UNWIND_MAX_MAPPINGS 32
#define TANDEM_UNWIND_MAX_TABLES 4096
#define TANDEM_UNWIND_MAX_PROCESSES 8192
/* A binary search over at most 2^24 entries takes 25 steps. */
#define TANDEM_UNWIND_SEARCH_STEPS 25
/* Frame-pointer steps of one walk that may go down to another stack (BEAM's JIT runs Erlang
 * code on each process's own stack and calls C on the scheduler thread's). */
#define TANDEM_UNWIND_MAX_STACK_SWITCHES 4

/* The serialized table entry, as is: start offset from the table's base, packed rule. */
struct tandem_unwind_entry {
    __u32 start_offset;
    __u32 rule;
};

/* Where table N's entries are in the entries array. entry_count 0: no table. */
struct tandem_unwind_table {
    __u64 base_address;
    __u32 first_entry;
    __u32 entry_count;
};

/* [start, end) of a process is covered by table `table`; the table address of pc is pc + bias. */
struct tandem_unwind_mapping {
    __u64 start;
    __u64 end;
    __u64 bias;
    __u32 table;
    __u32 reserved;
};

/* The value of the per-pid map: mappings sorted by start. */
struct tandem_unwind_process {
    __u32 count;
    __u32 reserved;
    struct tandem_unwind_mapping mappings[TANDEM_UNWIND_MAX_MAPPINGS];
};

#endif
