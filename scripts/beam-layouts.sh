#!/usr/bin/env bash
# Regenerates Sources/BEAMLayouts/BEAMLayoutTable.swift: the offsets of bpf/tandem_beam.h's
# struct tandem_beam_layout for the installed Erlang VM (docs/beam.md). The generated file is
# committed: builds neither need Erlang nor run this script.
#
# beam.smp ships without DWARF and erlang-dev has no ERTS-internal headers, so the offsets
# cannot be computed with offsetof as for Ruby or PHP. Each ERTS major's row below is a
# candidate (the values docs/beam.md sources); this script accepts it only after checking it
# against the installed VM:
#   1. beam.smp exports the symbols the aggregator's detection uses, and the first
#      `lea disp32(%rip)` of erts_end_staging_ranges (the static `r`, which .dynsym lacks)
#      lands exactly `ERTS_NUM_CODE_IX * sizeof(struct ranges)` before the_staging_code_index;
#   2. with the layout, scripts/beam-layouts/walk_beam.py walks a running
#      Tests/Workloads/erlang/known_truth.erl (stopped for each walk): the module table is
#      sorted, module known_truth has exactly its functions, its line table gives alpha/2,
#      beta/2 and gamma/2 the file known_truth.erl and their clauses' lines, and a scheduler's stack walks
#      from alpha/2, beta/2 or gamma/2 through measure/1, descend/2 x8 and rounds/2 to
#      beam_normal_exit.
#
# Needs: erlang-base (escript, erl), binutils (nm, objdump), python3, root (walk_beam.py
# reads /proc/PID/mem and stops the VM for a moment).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=Sources/BEAMLayouts/BEAMLayoutTable.swift
root=$(erl -noshell -eval 'io:format("~s", [code:root_dir()]), halt().')
erts=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(version)]), halt().')
otp=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')
beam=$root/erts-$erts/bin/beam.smp
erts_major=${erts%%.*}
[ -f "$beam" ] || { echo "beam-layouts: no $beam" >&2; exit 1; }

# Candidates by ERTS major: ranges size, .modules, .n; Range size; BeamCodeHeader
# .num_functions, .functions; ErtsCodeInfo.mfa; IndexTable.seg_table; Atom.len, .name;
# INDEX_PAGE_SHIFT; atom term shift, tag mask, tag; ERTS_NUM_CODE_IX; BeamCodeHeader.line_table;
# BeamCodeLineTab .fname_ptr, .loc_size, .loc_tab, .func_tab; sizeof(ErtsAlignedSchedulerData),
# ErtsSchedulerData .registers, .current_process, .tid; Process.stop, .i. The last six (the C-leaf walk,
# docs/beam.md "C leaves") were read with gdb on a running VM; this script does not check them:
# BEAMTests' C-leaf test does, end to end.
case "$erts_major" in
    13) row=(32 0 8 16 0 96 16 120 24 32 10 6 63 11 3 72 0 8 16 24 41728 0 168 88 32 256) ;;
    *) echo "beam-layouts: no candidate layout for ERTS $erts (OTP $otp); add one (docs/beam.md)" >&2; exit 1 ;;
esac

symbol() {
    local address
    address=$(nm -D --defined-only "$beam" | awk -v name="$1" '$3 == name { print $1 }')
    [ -n "$address" ] || { echo "beam-layouts: $beam does not export $1" >&2; exit 1; }
    echo "$address"
}
active=$(symbol the_active_code_index)
staging=$(symbol the_staging_code_index)
atoms=$(symbol erts_atom_table)
normal_exit=$(symbol beam_normal_exit)
symbol erts_frame_layout >/dev/null
end_staging=$(symbol erts_end_staging_ranges)
ranges=$(objdump -d --start-address=0x"$end_staging" --stop-address=$((0x$end_staging + 64)) "$beam" \
    | awk '/lea .*\(%rip\)/ { for (i = 1; i <= NF; i++) if ($i == "#") { print $(i + 1); exit } }')
[ -n "$ranges" ] || { echo "beam-layouts: no rip-relative lea in erts_end_staging_ranges" >&2; exit 1; }
if [ $((0x$ranges + ${row[14]} * ${row[0]})) -ne $((0x$staging)) ]; then
    echo "beam-layouts: r (0x$ranges) does not end at the_staging_code_index (0x$staging)" >&2
    exit 1
fi

work=$(mktemp -d)
vm_pid=
cleanup() { [ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
escript Tests/Workloads/erlang/known_truth.erl > "$work/vm.log" 2>&1 &
for _ in $(seq 100); do grep -q '^truth' "$work/vm.log" 2>/dev/null && break; sleep 0.1; done
vm_pid=$(awk '/^ready / { print $2; exit }' "$work/vm.log")
[ -n "$vm_pid" ] || { cat "$work/vm.log" >&2; echo "beam-layouts: the workload did not start" >&2; exit 1; }

layout="${row[0]},${row[4]},${row[5]},${row[6]},${row[7]},${row[8]},${row[9]},${row[15]},${row[16]},${row[17]},${row[18]},${row[19]}"
# The lines the module's line table must give alpha/2, beta/2 and gamma/2: each clause's line
# in the source (the first clause's for the function's entry, the second's for its body).
lines="lines"
for name in alpha beta gamma; do
    lines="$lines $name/2 known_truth.erl:$(grep -n "^$name(" Tests/Workloads/erlang/known_truth.erl | cut -d: -f1 | paste -sd,)"
done
functions='module known_truth: known_truth:main/1 known_truth:rounds/2 known_truth:descend/2 known_truth:keep/1 known_truth:measure/1 known_truth:cpu_ms/0 known_truth:alpha/2 known_truth:beta/2 known_truth:gamma/2 known_truth:module_info/0 known_truth:module_info/1'
ok=0
for _ in $(seq 20); do
    python3 scripts/beam-layouts/walk_beam.py "$vm_pid" "$beam" "$active,$ranges,$atoms,$normal_exit" "$layout" > "$work/walk.txt"
    # The walk may stop the VM outside the three functions (in measure/1's BIF call): retry.
    if awk -v functions="$functions" -v lines="$lines" '
            NR == 2 && $0 != functions { exit 1 }
            NR == 3 && $0 != lines { exit 1 }
            NR == 4 && $0 != "frames complete" { exit 1 }
            NR == 5 && !/^known_truth:(alpha|beta|gamma)\/2$/ { exit 1 }
            NR == 6 && $0 != "known_truth:measure/1" { exit 1 }
            NR >= 7 && NR <= 14 && $0 != "known_truth:descend/2" { exit 1 }
            NR == 15 && $0 != "known_truth:rounds/2" { exit 1 }
            END { if (NR < 15) exit 1 }' "$work/walk.txt"; then
        ok=1
        break
    fi
done
cat "$work/walk.txt" >&2
if [ "$ok" != 1 ]; then
    echo "beam-layouts: the frames walked with this layout are not the workload's (above)" >&2
    exit 1
fi

mkdir -p "$(dirname "$OUT")"
cat > "$OUT" <<SWIFT
// Generated by scripts/beam-layouts.sh from $beam
// (OTP $otp, ERTS $erts) and checked there against the running VM; do not edit.
// The index of a layout in this table is its index in the sampler's beam_layouts map
// and in control record 31.

extension BEAMLayout {
    /// The layouts of the supported ERTS majors, oldest first.
    public static let supported: [BEAMLayout] = [
        // ERTS $erts_major (OTP $otp)
        BEAMLayout(
            ertsMajor: $erts_major,
            otpRelease: $otp,
            rangesSize: ${row[0]},
            rangesModules: ${row[1]},
            rangesCount: ${row[2]},
            rangeSize: ${row[3]},
            codeHeaderFunctionCount: ${row[4]},
            codeHeaderFunctions: ${row[5]},
            codeInfoMFA: ${row[6]},
            indexTableSegments: ${row[7]},
            atomLength: ${row[8]},
            atomName: ${row[9]},
            atomSegmentShift: ${row[10]},
            atomTermShift: ${row[11]},
            atomTagMask: ${row[12]},
            atomTag: ${row[13]},
            codeIndexCount: ${row[14]},
            codeHeaderLineTable: ${row[15]},
            lineTableFileNames: ${row[16]},
            lineTableLocationSize: ${row[17]},
            lineTableLocations: ${row[18]},
            lineTableFunctions: ${row[19]},
            schedulerDataSize: ${row[20]},
            schedulerRegisters: ${row[21]},
            schedulerCurrentProcess: ${row[22]},
            processStop: ${row[23]},
            schedulerThread: ${row[24]},
            processInstruction: ${row[25]}
        ),
    ]
}
SWIFT
echo "beam-layouts: the layout walks OTP $otp (ERTS $erts) as it runs; wrote $OUT" >&2
