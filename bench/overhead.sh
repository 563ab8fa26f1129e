#!/usr/bin/env bash
# What profiling costs a program: a fixed amount of CPU work (bench/fixed-work.c)
# timed with no profiler, under tandem (sampler as root + aggregator as the user
# tandem, over the socket) at 19 / 99 / 999 Hz, under `perf record -a -g` (its
# default 4000 Hz, and -F 99) and under bpftrace's profile:hz:99 probe collecting
# kernel + user stacks. Runs are interleaved (one of each configuration per round,
# the order rotating each round) and the median of ROUNDS is reported.
#
# Two figures per configuration, both relative to no profiler:
#   cpu   the work's own CPU time (CLOCK_PROCESS_CPUTIME_ID). This kernel has no
#         IRQ_TIME_ACCOUNTING, so the sampling interrupt, the BPF program or perf's
#         handler that run on the work's CPU are charged to it: the in-line cost.
#   wall  the work's wall time: adds the profiler's own processes competing for
#         the CPUs. On a shared machine it also carries other users' load.
# Not a test: numbers depend on the machine and its load. Run as root.
#
# usage: bench/overhead.sh [ROUNDS] [ITERATIONS]    (default: 5 2000000000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
ITERATIONS=${2:-2000000000}

[ "$(id -u)" -eq 0 ] || { echo "overhead: run as root (loads BPF)" >&2; exit 1; }
for tool in perf bpftrace setpriv cc python3; do
    command -v "$tool" >/dev/null || { echo "overhead: needs $tool (apt-get install -y linux-perf bpftrace util-linux gcc python3)" >&2; exit 1; }
done
export PATH="/opt/swift/usr/bin:$PATH"
echo "building release binaries..." >&2
. scripts/release-binaries.sh
tandem_build_release >/dev/null
BIN=$TANDEM_BIN
tandem_ensure_user

WORK=$(mktemp -d /tmp/tandem-overhead.XXXXXX)
chmod 0755 "$WORK"
chown tandem: "$WORK"
PROFILER_PIDS=()
cleanup() {
    for pid in "${PROFILER_PIDS[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cc -O2 -fno-omit-frame-pointer -o "$WORK/fixed-work" bench/fixed-work.c

# Polls (every 0.1 s, at most 60 s) until "$@" succeeds.
wait_for() { for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done; echo "overhead: timed out: $*" >&2; return 1; }

# start_profiler CONFIG: starts it and waits until it samples; stop_profiler stops it.
start_profiler() {
    local config=$1 dir=$WORK/$1
    rm -rf "$dir"; mkdir -p "$dir"; chown tandem: "$dir"
    PROFILER_PIDS=()
    case $config in
        none) ;;
        tandem-*)
            local hz=${config#tandem-}
            setpriv --reuid=tandem --regid=tandem --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \
                "$BIN/tandem-aggregator" serve --socket "$dir/tandem.sock" --socket-mode 0660 --output-dir "$dir" \
                --log-level info 2>"$dir/aggregator.log" &
            PROFILER_PIDS+=($!)
            wait_for test -S "$dir/tandem.sock"
            setpriv --groups "$(id -g tandem)" -- "$BIN/tandem-sampler" --socket "$dir/tandem.sock" \
                --samples-per-second "$hz" --log-level info 2>"$dir/sampler.log" &
            PROFILER_PIDS+=($!)
            wait_for grep -qs "stream started" "$dir/sampler.log"
            sleep 2  # past the start-of-stream snapshot
            ;;
        perf-4000)
            perf record -a -g -o "$dir/perf.data" -q >/dev/null 2>"$dir/perf.log" &
            PROFILER_PIDS+=($!); sleep 2 ;;
        perf-99)
            perf record -F 99 -a -g -o "$dir/perf.data" -q >/dev/null 2>"$dir/perf.log" &
            PROFILER_PIDS+=($!); sleep 2 ;;
        bpftrace-99)
            bpftrace -e 'profile:hz:99 { @[kstack, ustack] = count(); }' >"$dir/bpftrace.out" 2>&1 &
            PROFILER_PIDS+=($!)
            wait_for grep -qs "Attaching" "$dir/bpftrace.out" ;;
    esac
}
stop_profiler() {
    # Newest first: the sampler before the aggregator.
    for ((i = ${#PROFILER_PIDS[@]} - 1; i >= 0; i--)); do
        kill -INT "${PROFILER_PIDS[$i]}" 2>/dev/null || true
        wait "${PROFILER_PIDS[$i]}" 2>/dev/null || true
    done
    PROFILER_PIDS=()
}

CONFIGS=(none tandem-19 tandem-99 tandem-999 perf-4000 perf-99 bpftrace-99)
RESULTS=$WORK/results.txt
: >"$RESULTS"
for ((round = 0; round < ROUNDS; round++)); do
    for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
        config=${CONFIGS[$(((k + round) % ${#CONFIGS[@]}))]}
        start_profiler "$config"
        read -r wall cpu _ < <("$WORK/fixed-work" "$ITERATIONS")
        stop_profiler
        echo "$config $wall $cpu" >>"$RESULTS"
        echo "round $((round + 1))/$ROUNDS $config: wall $wall s, cpu $cpu s" >&2
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    config, wall, cpu = line.split()
    runs.setdefault(config, []).append((float(wall), float(cpu)))
base_wall = statistics.median(w for w, _ in runs["none"])
base_cpu = statistics.median(c for _, c in runs["none"])
print("| configuration | median CPU s | CPU slowdown | median wall s | wall slowdown | runs |")
print("|---|---:|---:|---:|---:|---:|")
for config in ["none", "tandem-19", "tandem-99", "tandem-999", "perf-4000", "perf-99", "bpftrace-99"]:
    if config not in runs: continue
    wall = statistics.median(w for w, _ in runs[config]); cpu = statistics.median(c for _, c in runs[config])
    print(f"| {config} | {cpu:.3f} | {100 * (cpu / base_cpu - 1):+.2f}% | {wall:.3f} | {100 * (wall / base_wall - 1):+.1f}% | {len(runs[config])} |")
PY
