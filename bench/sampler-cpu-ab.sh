#!/usr/bin/env bash
# The sampler's own CPU, two builds interleaved: for each round and frequency, sampler A
# then sampler B, each alone for its warm-up and SECONDS, with both CPUs kept busy by two
# spin loops (as bench/all.sh's "sampler CPU" rows). Each writes a capture file
# (--output, as bench/sampler-overhead.sh), so no aggregator is needed; its CPU is every
# thread's schedstat from WARMUP s after its interpreter walkers are in. Prints one row per
# run with the load average at its end: other processes' execs wake the sampler, so compare
# A and B of the same round. The window is read and timed with bash builtins only: an exec
# of `sleep` or `cat` would ring the sampler's exec doorbell and add drains to what is
# measured. Not a test. Run as root.
# AGGREGATOR=path streams to that aggregator over a socket instead (`serve --metrics-out
# /dev/null`, one per run), as a deployment runs: the control stream's reads count too.
#
#   bench/sampler-cpu-ab.sh A_SAMPLER B_SAMPLER [SECONDS] [ROUNDS] [FREQUENCIES...]
#   (default 30 2 19 99 999)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 A_SAMPLER B_SAMPLER [SECONDS] [ROUNDS] [FREQUENCIES...]" >&2; exit 2; }
a=$1 b=$2
seconds=${3:-30}
rounds=${4:-2}
frequencies=(19 99 999)
if [ $# -gt 4 ]; then shift 4; frequencies=("$@"); fi
warmup=5
[ "$(id -u)" -eq 0 ] || { echo "sampler-cpu-ab: run as root (the sampler loads BPF)" >&2; exit 1; }
work=$(mktemp -d /tmp/tandem-sampler-ab.XXXXXX)
loads=()
cleanup() {
    for pid in "${loads[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cc -O1 -fno-omit-frame-pointer -o "$work/spin" Tests/Workloads/spin.c
for _ in 1 2; do "$work/spin" 100000 & loads+=($!); done

# Without an exec: `read` of each thread's schedstat, and a wait on a FIFO nobody writes.
cpu_ns() {
    local total=0 ns rest file
    for file in /proc/"$1"/task/*/schedstat; do
        read -r ns rest 2>/dev/null < "$file" || continue
        total=$((total + ns))
    done
    echo "$total"
}
mkfifo "$work/never"
exec 3<>"$work/never"
wait_quietly() { read -r -t "$1" -u 3 _ || true; }
now_ns() { local t=${EPOCHREALTIME//[!0-9]/}; echo "${t}000"; }

echo "| round | Hz | build | sampler CPU (share of one CPU) | load average at the end |"
echo "|---:|---:|---|---:|---|"
for round in $(seq "$rounds"); do
    for hz in "${frequencies[@]}"; do
        for build in A B; do
            binary=$a
            [ "$build" = B ] && binary=$b
            destination=(--output "$work/capture")
            if [ -n "${AGGREGATOR:-}" ]; then
                rm -f "$work/a.sock"
                "$AGGREGATOR" serve --socket "$work/a.sock" --metrics-out /dev/null --log-level warning 2>"$work/aggregator.log" &
                aggregator=$!
                while [ ! -S "$work/a.sock" ]; do sleep 0.1; done
                destination=(--socket "$work/a.sock")
            fi
            "$binary" "${destination[@]}" --samples-per-second "$hz" --log-level info 2>"$work/sampler.log" &
            sampler=$!
            until grep -q 'interpreter walkers ready' "$work/sampler.log" 2>/dev/null; do sleep 0.2; done
            sleep "$warmup"
            s0=$(cpu_ns "$sampler"); t0=$(now_ns)
            wait_quietly "$seconds"
            s1=$(cpu_ns "$sampler"); t1=$(now_ns)
            kill -INT "$sampler"; wait "$sampler" || true
            if [ -n "${AGGREGATOR:-}" ]; then kill -INT "$aggregator"; wait "$aggregator" || true; fi
            share=$(awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f %%", (b - a) / (t1 - t0) * 100 }')
            echo "| $round | $hz | $build | $share | $(cut -d' ' -f1-3 /proc/loadavg) |"
        done
    done
done
