#!/usr/bin/env bash
# The aggregator's steady state, two builds interleaved: for each round, aggregator A then
# aggregator B, each as `make run` starts it (--output-dir: metrics and profiles to files)
# behind the same sampler at HZ, with both CPUs kept busy by two spin loops (as
# bench/all.sh's rows). Prints its CPU over SECONDS after a warm-up that starts once the
# sampler's interpreter walkers are in, its peak RSS (VmHWM) and its RSS at the end
# (VmRSS), and the load average: other processes on the host are symbolized and their
# unwind tables compiled too, so compare A and B of the same round. Not a test. Run as root.
#
#   bench/aggregator-steady-ab.sh SAMPLER A_AGGREGATOR B_AGGREGATOR [SECONDS] [ROUNDS] [HZ]
#   (default 40 2 19)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 SAMPLER A_AGGREGATOR B_AGGREGATOR [SECONDS] [ROUNDS] [HZ]" >&2; exit 2; }
sampler_binary=$1 a=$2 b=$3
seconds=${4:-40}
rounds=${5:-2}
hz=${6:-19}
warmup=10
[ "$(id -u)" -eq 0 ] || { echo "aggregator-steady-ab: run as root (the sampler loads BPF)" >&2; exit 1; }
work=$(mktemp -d /tmp/tandem-aggregator-ab.XXXXXX)
loads=()
cleanup() {
    for pid in "${loads[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cc -O1 -fno-omit-frame-pointer -o "$work/spin" Tests/Workloads/spin.c
for _ in 1 2; do "$work/spin" 100000 & loads+=($!); done

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

echo "| round | build | aggregator CPU (share of one CPU) | peak RSS | RSS at the end | load average at the end |"
echo "|---:|---|---:|---:|---:|---|"
for round in $(seq "$rounds"); do
    for build in A B; do
        binary=$a
        [ "$build" = B ] && binary=$b
        dir=$work/$round-$build
        mkdir -p "$dir"
        "$binary" serve --socket "$dir/a.sock" --output-dir "$dir/output" --log-level warning 2>"$dir/aggregator.log" &
        aggregator=$!
        while [ ! -S "$dir/a.sock" ]; do sleep 0.1; done
        "$sampler_binary" --socket "$dir/a.sock" --samples-per-second "$hz" --log-level info 2>"$dir/sampler.log" &
        sampler=$!
        until grep -q 'interpreter walkers ready' "$dir/sampler.log" 2>/dev/null; do sleep 0.2; done
        sleep "$warmup"
        a0=$(cpu_ns "$aggregator"); t0=$(date +%s%N)
        sleep "$seconds"
        a1=$(cpu_ns "$aggregator"); t1=$(date +%s%N)
        peak=$(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$aggregator"/status)
        now=$(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$aggregator"/status)
        kill -INT "$sampler"; wait "$sampler" || true
        kill -INT "$aggregator"; wait "$aggregator" || true
        share=$(awk -v a="$a0" -v b="$a1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f %%", (b - a) / (t1 - t0) * 100 }')
        echo "| $round | $build | $share | $peak | $now | $(cut -d' ' -f1-3 /proc/loadavg) |"
    done
done
