#!/usr/bin/env bash
# The aggregator's replay throughput and peak RSS, next to `perf report` on a
# perf.data of the same workload (docs/benchmarks.md, "Aggregator").
#
#   bench/replay-throughput.sh [WORK_DIR] [SECONDS]     (root; default /tmp/tandem-bench, 20 s)
#
# 1. bench/record-capture.sh records the workload for SECONDS at 999 Hz with
#    tandem-sampler and `perf record -g -a` at once (capture.tandem, perf.data).
# 2. tandem-bench amplifies the capture to >= 1M samples (amplified.tandem):
#    its samples repeated with shifted times, stacks and processes unchanged.
# 3. Each measurement runs the release binary under /usr/bin/time -v:
#    - cold:  replay of capture.tandem (one pass: every ELF file loaded, every stack new);
#    - 1M:    replay of amplified.tandem;
#    - warm:  (samples(1M) - samples(cold)) / (time(1M) - time(cold)), i.e. the
#             samples/s once files and stacks are cached; time is user+system CPU
#             (the machine is shared, wall time is also printed);
#    each with --metrics-out /dev/null (metrics only) and --output-dir (every output),
#    then `perf report --stdio --no-children` on perf.data.
# Replay soon after recording: the symbolizer reads the ELF files as they are now.
# AGGREGATOR=path measures another tandem-aggregator build (e.g. an older commit's)
# on the same capture; RUNS=n (default 3) runs each measurement n times, keeping the fastest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
work=${1:-/tmp/tandem-bench}
seconds=${2:-20}
runs=${RUNS:-3}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }

(cd "$root" && swift build -c release --product tandem-aggregator >&2 \
    && swift build -c release --product tandem-sampler >&2 \
    && swift build -c release --product tandem-bench >&2)
bin=$root/.build/release
aggregator=${AGGREGATOR:-$bin/tandem-aggregator}
if [[ ! -s $work/capture.tandem || ! -s $work/perf.data ]]; then
    "$here/record-capture.sh" "$work" "$seconds"
fi
"$bin/tandem-bench" amplify "$work/capture.tandem" "$work/amplified.tandem" --min-samples 1000000 >&2

samples() { "$bin/tandem-bench" count "$1" | sed -n 's/^samples=\([0-9]*\).*/\1/p'; }
cold_samples=$(samples "$work/capture.tandem")
big_samples=$(samples "$work/amplified.tandem")
perf_samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$work/perf-record.log")

# Runs COMMAND under /usr/bin/time RUNS times; prints "cpu_seconds wall_seconds max_rss_kib" of the fastest.
measure() {
    local best=""
    for _ in $(seq "$runs"); do
        rm -rf "$work/out"  # the file exporter appends: every run starts from an empty directory
        /usr/bin/time -f '%U %S %e %M' -o "$work/time.txt" "$@" > /dev/null 2> "$work/stderr.txt" \
            || { cat "$work/stderr.txt" >&2; exit 1; }
        local line; line=$(awk '{printf "%.2f %.2f %d\n", $1 + $2, $3, $4}' "$work/time.txt")
        if [[ -z $best || $(echo "$line $best" | awk '{print ($1 < $4)}') == 1 ]]; then best=$line; fi
    done
    echo "$best"
}

rm -rf "$work/out"
printf '%-34s %9s %8s %8s %9s %12s\n' run samples cpu_s wall_s rss_MiB samples/cpu_s
row() {
    local name=$1 count=$2; shift 2
    local result; result=$(measure "$@")
    read -r cpu wall rss <<< "$result"
    printf '%-34s %9s %8s %8s %9.1f %12.0f\n' "$name" "$count" "$cpu" "$wall" "$(echo "$rss/1024" | bc -l)" \
        "$(echo "$count / $cpu" | bc -l)"
    echo "$cpu" > "$work/last_cpu"
}
for mode in metrics outputs; do
    if [[ $mode == metrics ]]; then args=(--metrics-out /dev/null); else args=(--output-dir "$work/out"); fi
    row "replay cold ($mode)" "$cold_samples" "$aggregator" replay --log-level error "${args[@]}" "$work/capture.tandem"
    cold_cpu=$(cat "$work/last_cpu")
    row "replay 1M ($mode)" "$big_samples" "$aggregator" replay --log-level error "${args[@]}" "$work/amplified.tandem"
    big_cpu=$(cat "$work/last_cpu")
    printf '%-34s %9s %8s %8s %9s %12.0f\n' "warm ($mode)" $((big_samples - cold_samples)) \
        "$(echo "$big_cpu - $cold_cpu" | bc -l)" - - "$(echo "($big_samples - $cold_samples) / ($big_cpu - $cold_cpu)" | bc -l)"
done
row "perf report --stdio --no-children" "$perf_samples" perf report -i "$work/perf.data" --stdio --no-children
