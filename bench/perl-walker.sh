#!/usr/bin/env bash
# Perl frames (docs/perl.md): what the BPF Perl walker costs per sample, and what it names.
# Runs the known-truth workload (Tests/Workloads/perl/known_truth.pl: innermost sub alpha
# 50 %, Calc::beta 20 %, Gamma::gamma 30 %) under /usr/bin/perl and samples every CPU at
# 997 Hz with tandem's BPF programs (the sampling object and the Perl walker's, compiled from
# bpf/ with clang, the walker loaded into the sampling object's tail-call slot as the sampler
# does) through a small libbpf harness (bench/perl-walker/harness.c), DURATION s a run, REPEAT
# times alternately:
#   perl   the workload's process named to the Perl walker (as control record 25 would);
#   native no process named: the same workload's samples are native-only.
# Prints the sampling program's BPF run time per run (kernel.bpf_stats_enabled=1; the
# tail-called walker's time counts in it) over all samples of the window, the perl process's
# samples, those with Perl frames and their frames a walk, and its innermost subs. The extra
# cost of a Perl sample is (perl ns/run - native ns/run) x runs / perl samples.
# Not a test (not run by CI): the numbers depend on the machine and its load. Run as root.
#
# usage: [DURATION=10] [REPEAT=3] bench/perl-walker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
PERL=/usr/bin/perl
[ "$(id -u)" -eq 0 ] || { echo "perl-walker.sh: run as root (loads BPF)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $WORKLOAD 2>/dev/null || true; sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$WORK"' EXIT

for object in sampler perl_walker; do
    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -Ibpf \
        -c bpf/$object.bpf.c -o "$WORK/$object.bpf.o"
done
cc -O2 -Wall -Ibpf -o "$WORK/harness" bench/perl-walker/harness.c -lbpf
# The layout the sampler writes (Sources/PerlLayouts): the version, then the fields in order.
LAYOUT=$(awk '/version: .init/ { gsub(/[^0-9,]/, ""); split($0, v, ","); printf "0x%02x%02x%02x", v[1], v[2], v[3] }
              /^ *[a-zA-Z]+: [0-9]+,?$/ { gsub(/[^0-9]/, ""); printf ",%s", $0 }' Sources/PerlLayouts/PerlLayoutTable.swift)
KEY=$(nm -D --defined-only "$PERL" | awk '$3 == "PL_thr_key" { print $1 }')

sysctl -q kernel.bpf_stats_enabled=1
perl Tests/Workloads/perl/known_truth.pl tpl-bench > "$WORK/truth" &
WORKLOAD=$!
sleep 0.5
BASE=$(awk -v perl="$PERL" '$6 == perl && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' /proc/$WORKLOAD/maps)
ADDRESS=$(printf '%x' $((0x$BASE + 0x$KEY)))
echo "perl-walker: $(uptime)"
for run in $(seq "$REPEAT"); do
    for mode in perl native; do
        pid=$WORKLOAD; [ $mode = native ] && pid=0
        echo "== run $run $mode: $("$WORK/harness" "$WORK/sampler.bpf.o" "$WORK/perl_walker.bpf.o" "$pid" "$ADDRESS" "$DURATION" "$LAYOUT" | tr '\n' ' ')"
    done
done
echo "truth (thread CPU ns): $(tail -1 "$WORK/truth")"
