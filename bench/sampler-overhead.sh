#!/usr/bin/env bash
# tandem-sampler overhead next to `perf record -a -g` and a bpftrace profile probe.
#
# For each frequency, with both CPUs kept busy by two frame-pointer workloads,
# runs each profiler in turn for SECONDS and reports:
#   - its CPU time (user + system, all threads) per wall second, measured from
#     /proc/PID/task/*/schedstat after a warm-up, so start-up (kallsyms, BPF load)
#     is excluded;
#   - for the BPF-based ones, the cost of the perf_event program per run
#     (kernel.bpf_stats_enabled=1: run_time_ns / run_cnt from `bpftool prog show`).
# Not a test: numbers depend on the machine and its load. Run as root.
#
# usage: bench/sampler-overhead.sh [SECONDS] [FREQUENCIES...]   (default: 20 19 99 999)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-20}
FREQUENCIES=(19 99 999)
if [ $# -gt 1 ]; then shift; FREQUENCIES=("$@"); fi
WARMUP=5  # past start-up: BPF load, kallsyms, the first snapshot

[ "$(id -u)" -eq 0 ] || { echo "sampler-overhead: run as root (loads BPF)" >&2; exit 1; }
for tool in perf bpftrace bpftool python3 cc; do
    command -v "$tool" >/dev/null || { echo "sampler-overhead: needs $tool (apt-get install -y linux-perf bpftrace bpftool python3 gcc)" >&2; exit 1; }
done

export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product tandem-sampler >/dev/null
SAMPLER="$(swift build -c release --show-bin-path)/tandem-sampler"
WORK=$(mktemp -d)
cleanup() {
    for pid in "${LOAD_PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    sysctl -qw kernel.bpf_stats_enabled=0 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cc -O1 -fno-omit-frame-pointer -o "$WORK/spin" Tests/Workloads/spin.c
LOAD_PIDS=()
for _ in 1 2; do "$WORK/spin" 100000 & LOAD_PIDS+=($!); done
sysctl -qw kernel.bpf_stats_enabled=1

# CPU seconds of PID so far, all threads: the scheduler's exact run time
# (/proc/PID/task/*/schedstat, nanoseconds), not the tick-sampled utime/stime of
# /proc/PID/stat, which misses a process that runs briefly between two ticks.
cpu_seconds() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'; }
# run_time_ns and run_cnt summed over the perf_event programs that process PID
# holds open (prog_id in /proc/PID/fdinfo): other profilers on the host do not count.
bpf_stats() {
    local ids
    ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
    bpftool -j prog show | python3 -c '
import json, sys
ids = {int(i) for i in sys.argv[1].split()}
progs = [p for p in json.load(sys.stdin) if p.get("type") == "perf_event" and p.get("id") in ids]
print(sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs))' "$ids"
}

# measure PID WITH_BPF: prints "cpu_per_second us_per_run runs"
measure() {
    local pid=$1 bpf_name=$2
    sleep "$WARMUP"
    local cpu0 t0 bpf0 cpu1 t1 bpf1
    cpu0=$(cpu_seconds "$pid"); t0=$(date +%s.%N); bpf0=$( [ -n "$bpf_name" ] && bpf_stats "$pid" || echo "0 0")
    sleep "$SECONDS_PER_RUN"
    cpu1=$(cpu_seconds "$pid"); t1=$(date +%s.%N); bpf1=$( [ -n "$bpf_name" ] && bpf_stats "$pid" || echo "0 0")
    python3 - "$cpu0" "$cpu1" "$t0" "$t1" $bpf0 $bpf1 <<'PY'
import sys
cpu0, cpu1, t0, t1, ns0, n0, ns1, n1 = map(float, sys.argv[1:])
runs = n1 - n0
per_run = (ns1 - ns0) / runs / 1000 if runs > 0 else float("nan")
print(f"{(cpu1 - cpu0) / (t1 - t0) * 100:.3f}% {per_run:.2f} {int(runs)}")
PY
}

printf '| Hz | profiler | CPU (user+sys) per wall second | BPF µs per sample | BPF runs |\n'
printf '|---:|---|---:|---:|---:|\n'
for hz in "${FREQUENCIES[@]}"; do
    total=$((WARMUP + SECONDS_PER_RUN + 3))

    "$SAMPLER" --output "$WORK/capture" --samples-per-second "$hz" --duration "$total" --log-level error &
    pid=$!
    read -r cpu us runs < <(measure "$pid" bpf)
    wait "$pid"
    printf '| %s | tandem-sampler | %s | %s | %s |\n' "$hz" "$cpu" "$us" "$runs"

    perf record -F "$hz" -a -g -o "$WORK/perf.data" -q -- sleep "$total" >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    # perf record runs as the child of the shell; its pid is $pid (sleep is its child).
    read -r cpu us runs < <(measure "$pid" "")
    wait "$pid" || true
    printf '| %s | perf record -F %s -a -g | %s | – | – |\n' "$hz" "$hz" "$cpu"

    bpftrace -e "profile:hz:$hz { @[kstack, ustack] = count(); }" >/dev/null 2>&1 &
    pid=$!
    # bpftrace compiles its program first: wait until it runs.
    for _ in $(seq 100); do
        [ "$(bpf_stats "$pid" | cut -d' ' -f2)" != 0 ] && break
        sleep 0.3
    done
    read -r cpu us runs < <(measure "$pid" bpf)
    kill -INT "$pid"; wait "$pid" || true
    printf '| %s | bpftrace profile:hz:%s | %s | %s | %s |\n' "$hz" "$hz" "$cpu" "$us" "$runs"
done
