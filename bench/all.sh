#!/usr/bin/env bash
# Every always-on figure of issue 17 in one table, each beside its target:
#   - sampler and aggregator CPU (share of one CPU, from every thread's schedstat after a
#     warm-up) and the aggregator's peak RSS, at 19, 99 and 999 Hz with both CPUs kept busy
#     by two spin loops; the aggregator as `make run` starts it (the embedded default
#     configuration: metrics and profiles to files) and with --metrics-out only;
#   - start-up (bench/start-up.sh): the sampler's exec to sampling, and the share of a cold
#     and a later -O2 program's samples that reach main;
#   - workload slowdown at 99 Hz against bpftrace's profile probe (bench/overhead.sh);
#   - the simulated large host (bench/large-host.sh): replay speed and RSS.
# Not a test: the figures depend on the machine and its load (the load average is printed).
# Run as root from anywhere; builds the release products first.
#
#   bench/all.sh [SECONDS] [LARGE_HOST_SECONDS] [OVERHEAD_ROUNDS]     (default 40 600 3)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-40}
large_host_seconds=${2:-600}
overhead_rounds=${3:-3}
warmup=10
[ "$(id -u)" -eq 0 ] || { echo "all: run as root (the sampler loads BPF)" >&2; exit 1; }
for tool in cc bc bpftrace python3; do
    command -v "$tool" >/dev/null || { echo "all: needs $tool (apt-get install -y gcc bc bpftrace python3)" >&2; exit 1; }
done
for product in tandem-sampler tandem-aggregator tandem-bench; do
    swift build -c release --product "$product" >&2
done
bin=.build/release
work=$(mktemp -d /tmp/tandem-all.XXXXXX)
chmod 755 "$work"
loads=()
cleanup() {
    for pid in "${loads[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    kill $(jobs -p) 2>/dev/null || true
}
trap cleanup EXIT

# The host's busy and stolen CPU ticks so far (/proc/stat's cpu line: user nice system irq
# softirq, and steal). On a VM the hypervisor's steal slows every figure; it is printed.
host_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
read -r busy_start steal_start <<<"$(host_ticks)"

# CPU nanoseconds of PID so far, all threads (the scheduler's exact run time).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
share() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { printf "%.3f %%", (b - a) / s / 1e9 * 100 }'; }

cc -O1 -fno-omit-frame-pointer -o "$work/spin" Tests/Workloads/spin.c
for _ in 1 2; do "$work/spin" 100000 & loads+=($!); done

rows=()
row() { rows+=("| $1 | $2 | $3 |"); }

# steady HZ NAME AGGREGATOR_ARGS...: a sampler and an aggregator over a socket for
# warm-up + SECONDS; adds the sampler's and the aggregator's CPU and the aggregator's peak RSS.
steady() {
    local hz=$1 name=$2; shift 2
    local dir=$work/steady-$hz-$name
    mkdir -p "$dir"
    "$bin/tandem-aggregator" serve --socket "$dir/a.sock" "$@" --log-level warning 2>"$dir/aggregator.log" &
    local aggregator=$!
    while [ ! -S "$dir/a.sock" ]; do sleep 0.1; done
    "$bin/tandem-sampler" --socket "$dir/a.sock" --samples-per-second "$hz" --log-level info 2>"$dir/sampler.log" &
    local sampler=$!
    until grep -q 'interpreter walkers ready' "$dir/sampler.log" 2>/dev/null; do sleep 0.2; done
    sleep "$warmup"
    local s0 a0 s1 a1
    s0=$(cpu_ns "$sampler"); a0=$(cpu_ns "$aggregator")
    sleep "$seconds"
    s1=$(cpu_ns "$sampler"); a1=$(cpu_ns "$aggregator")
    local peak
    peak=$(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$aggregator"/status)
    kill -INT "$sampler"; wait "$sampler" || true
    kill -INT "$aggregator"; wait "$aggregator" || true
    if [ "$name" = default ]; then
        local target="≤ 0.05 %"
        [ "$hz" = 19 ] && target="≤ 0.01 %"
        row "sampler CPU, $hz Hz" "$target" "$(share "$s0" "$s1" "$seconds")"
    fi
    local aggregator_target="—"
    [ "$hz" = 19 ] && aggregator_target="≤ 0.1 %, < 64 MiB"
    row "aggregator CPU and peak RSS, $hz Hz, $name" "$aggregator_target" "$(share "$a0" "$a1" "$seconds"), $peak"
}

for hz in 19 99 999; do
    steady "$hz" default --output-dir "$work/output-$hz"
    steady "$hz" "metrics only" --metrics-out /dev/null
done

# Start-up: its table's rows, as they are.
bench/start-up.sh 10 "$bin" >"$work/start-up.txt" 2>"$work/start-up.log" || true
while IFS= read -r line; do
    case "$line" in
        "| sampler: exec to sampling"*) row "start-up: $(echo "$line" | cut -d'|' -f2 | sed 's/^ *//; s/ *$//')" "—" "$(echo "$line" | cut -d'|' -f3 | sed 's/^ *//; s/ *$//')" ;;
        "| cold:"*) row "start-up: cold -O2 program, samples reaching main (10 s)" "≥ 90 %" "$(echo "$line" | cut -d'|' -f3 | sed 's/^ *//; s/ *$//')" ;;
        "| later:"*) row "start-up: -O2 program started later, samples reaching main" "≥ 97 %" "$(echo "$line" | cut -d'|' -f3 | sed 's/^ *//; s/ *$//')" ;;
    esac
done <"$work/start-up.txt"

# Workload slowdown at 99 Hz: tandem against bpftrace in the same interleaved run.
for load in "${loads[@]}"; do kill "$load" 2>/dev/null || true; done
loads=()
bench/overhead.sh "$overhead_rounds" 2000000000 >"$work/overhead.txt" 2>"$work/overhead.log" || true
tandem99=$(awk -F'|' '$2 ~ /tandem-99 / { gsub(/ /, "", $4); print $4 }' "$work/overhead.txt")
bpftrace99=$(awk -F'|' '$2 ~ /bpftrace-99 / { gsub(/ /, "", $4); print $4 }' "$work/overhead.txt")
row "workload CPU slowdown, 99 Hz (tandem / bpftrace)" "tandem ≤ bpftrace" "${tandem99:-?} / ${bpftrace99:-?}"

# The large host.
bench/large-host.sh "$work/large-host" "$large_host_seconds" >"$work/large-host.txt" 2>"$work/large-host.log" || true
speed=$(grep -o '[0-9.]*x real time (wall), [0-9.]*x (CPU)' "$work/large-host.txt" || echo "?")
rss=$(grep -o 'peak RSS.*' "$work/large-host.txt" || echo "?")
row "large host ($large_host_seconds s simulated): replay speed" "≥ 20x" "$speed"
row "large host: aggregator RSS" "< 256 MiB, flat" "$rss"

read -r busy_end steal_end <<<"$(host_ticks)"
stolen=$(awk -v b=$((busy_end - busy_start)) -v s=$((steal_end - steal_start)) 'BEGIN { printf "%.1f %%", (b + s > 0 ? s / (b + s) * 100 : 0) }')
echo "bench/all.sh $seconds $large_host_seconds $overhead_rounds, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $stolen of the busy CPU time stolen by the hypervisor"
echo
echo "| figure | target | value |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "logs and outputs in $work"
