#!/usr/bin/env bash
# The Ruby walker's cost per sample (docs/benchmarks.md): tandem's BPF programs (the sampling
# object and the Ruby walker's, the walker loaded into the sampling object's tail-call slot as
# the sampler does), loaded by a small harness (bench/ruby-walker-cost.c) instead of the
# sampler, sample every CPU at 997 Hz while Tests/Workloads/ruby/known_truth.rb runs; runs
# alternate between the ruby process named to the walker and not named (its samples then take
# the native path only), and each prints the sampling program's run time per run from
# bpf_stats (the tail-called walker's time counts in it), the Ruby samples (with frames) the
# harness read, and the walker's own counters. With R the Ruby walks of a walked run (the
# walker's counter) and N the runs, the walker's cost per Ruby sample is
# (ns/run walked - ns/run not walked) × N / R.
#
#   bench/ruby-walker-cost.sh            # DURATION=10 s per run, REPEAT=3 pairs
# Needs: root, clang, cc, libbpf-dev, ruby, ruby-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
work=$(mktemp -d)
ruby_pid=
cleanup() { [ -n "$ruby_pid" ] && kill "$ruby_pid" 2>/dev/null; sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$work"; }
trap cleanup EXIT

for object in sampler ruby_walker; do
    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -Ibpf \
        -c bpf/$object.bpf.c -o "$work/$object.bpf.o"
done
cc -O1 -Wall -Werror -Ibpf -o "$work/harness" bench/ruby-walker-cost.c -lbpf
cc -Wall -Werror -I/usr/include/ruby-3.1.0 -I/usr/include/x86_64-linux-gnu/ruby-3.1.0 -o "$work/probe" \
    scripts/ruby-layouts/offsets.c
"$work/probe" -k > "$work/layout"

ruby Tests/Workloads/ruby/known_truth.rb tandem-rbcost > /dev/null &
ruby_pid=$!
sleep 1
library=$(awk '/libruby/ { print $6; exit }' "/proc/$ruby_pid/maps")
base=$(awk -v lib="$library" '$6 == lib && $3 == "00000000" { split($1, range, "-"); print range[1]; exit }' "/proc/$ruby_pid/maps")
slot_offset=$(readelf -rW "$library" | awk '$3 == "R_X86_64_DTPMOD64" && $5 == "ruby_current_ec" { print $1 }')
slot=$(printf '%x' $((0x$base + 0x$slot_offset)))
sysctl -q kernel.bpf_stats_enabled=1
echo "ruby pid $ruby_pid, $library, module slot 0x$slot; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$REPEAT"); do
    for mode in walked native; do
        pid=$ruby_pid
        [ "$mode" = native ] && pid=0
        printf '%s run %s: ' "$mode" "$run"
        "$work/harness" "$work/sampler.bpf.o" "$work/ruby_walker.bpf.o" "$pid" "$slot" "$DURATION" < "$work/layout" | grep -E '^(runs|records|walks)' | tr '\n' ' '
        echo
    done
done
sysctl -q kernel.bpf_stats_enabled=0
