#!/usr/bin/env bash
# Erlang/BEAM frames (docs/beam.md): what the BPF BEAM walker costs per sample, and what it
# names. Runs the known-truth workload (Tests/Workloads/erlang/known_truth.erl: innermost
# function alpha/2 50 %, beta/2 20 %, gamma/2 30 %) under Debian's escript (OTP 25) and samples
# every CPU at 997 Hz with tandem's BPF programs (the sampling object and the BEAM walker's,
# compiled from bpf/ with clang, the walker loaded into the sampling object's tail-call slot as
# the sampler does) through a small libbpf harness (bench/beam-walker/harness.c), DURATION s a
# run, REPEAT times alternately:
#   beam   the VM named to the BEAM walker (as control record 31 would);
#   native no process named: the same VM's samples are native-only.
# Prints the sampling program's BPF run time per run (kernel.bpf_stats_enabled=1) over all
# samples of the window, the VM's samples with Erlang frames, and its innermost functions. The
# extra cost of a BEAM sample is (beam ns/run - native ns/run) x runs / BEAM samples.
# Not a test (not run by CI): the numbers depend on the machine and its load. Run as root.
#
# usage: [DURATION=10] [REPEAT=3] bench/beam-walker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
[ "$(id -u)" -eq 0 ] || { echo "beam-walker.sh: run as root (loads BPF)" >&2; exit 1; }
WORK=$(mktemp -d)
trap '{ kill -9 $WORKLOAD && wait $WORKLOAD; } 2>/dev/null || true; sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$WORK"' EXIT

for object in sampler beam_walker; do
    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -Ibpf \
        -c bpf/$object.bpf.c -o "$WORK/$object.bpf.o"
done
cc -O2 -Wall -Ibpf -o "$WORK/harness" bench/beam-walker/harness.c -lbpf
# The layout the sampler writes (Sources/BEAMLayouts): its fields in order.
LAYOUT=$(awk '/^ *[a-zA-Z]+: [0-9]+,?$/ { gsub(/[^0-9]/, ""); printf "%s%s", sep, $0; sep = "," }' \
    Sources/BEAMLayouts/BEAMLayoutTable.swift)

sysctl -q kernel.bpf_stats_enabled=1
escript Tests/Workloads/erlang/known_truth.erl > "$WORK/truth" &
WORKLOAD=$!
sleep 1
# escript execs the VM in its own process: its beam.smp, its load base, and the ELF addresses
# the aggregator's detection finds (r: the three module tables just below the_staging_code_index).
VM=$(readlink /proc/$WORKLOAD/exe)
symbol() { nm -D --defined-only "$VM" | awk -v name="$1" '$3 == name { print $1 }'; }
BASE=$(awk -v vm="$VM" '$6 == vm && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' /proc/$WORKLOAD/maps)
ADDRESSES=$(printf '%x,' $((0x$BASE + 0x$(symbol the_active_code_index))) \
    $((0x$BASE + 0x$(symbol the_staging_code_index) - 96)) $((0x$BASE + 0x$(symbol erts_atom_table))) \
    $((0x$BASE + 0x$(symbol beam_normal_exit))) $((0x$BASE + 0x$(symbol erts_aligned_scheduler_data))) \
    $((0x$BASE + 0x$(symbol erts_no_schedulers))) $((0x$BASE + 0x$(symbol erts_frame_layout))) \
    $((0x$BASE + 0x$(symbol erts_aligned_dirty_cpu_scheduler_data))) \
    $((0x$BASE + 0x$(symbol erts_no_dirty_cpu_schedulers))))
echo "beam-walker: $VM, $(uptime)"
for run in $(seq "$REPEAT"); do
    for mode in beam native; do
        pid=$WORKLOAD; [ $mode = native ] && pid=0
        echo "== run $run $mode: $("$WORK/harness" "$WORK/sampler.bpf.o" "$WORK/beam_walker.bpf.o" "$pid" "$ADDRESSES" "$DURATION" "$LAYOUT" | tr '\n' ' ')"
    done
done
echo "truth (VM CPU ms): $(tail -1 "$WORK/truth")"
