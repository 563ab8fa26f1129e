#!/usr/bin/env bash
# Off-CPU sampling overhead on a context-switch-heavy workload, next to a peer.
#
# The workload (bench/pipe-ping-pong.c) passes a byte between two threads over two
# pipes ROUNDS times: every round trip is two blocking reads, so about two switches. It is
# pinned to CPU 0 (taskset): across two vCPUs every wake-up is an interrupt to the other
# CPU, and its cost made unpinned runs of the same work take 1 s or 8 s at random. The
# profiler runs unpinned; its own CPU time during the exchange (user space and system
# calls, from /proc/PID/task/*/schedstat) is reported beside the slowdown, which holds the
# BPF programs' time (they run in the switching threads).
# Interleaved, ROUNDS_OF_RUNS times, it runs with: no profiler; tandem-sampler at
# --off-cpu-threshold 0.01, 0.1 and 1 (19 Hz on-CPU sampling as packaged, into a capture
# file); and a peer. For each, the median wall time of the exchange, its slowdown
# against no profiler, and the off-CPU records per second of that run (tandem: the
# capture's off_cpu_samples statistic, and its drops_ring_buffer_full beside it, the
# records lost to a full ring buffer; the peer: its count of recorded waits; both over
# the exchange's wall time, with the few records of the settling seconds counted in).
#
# The peers: the issue names offcputime from bpfcc-tools. The script tries it first; it
# needs kernel headers to compile and a kprobe on finish_task_switch, and on a kernel
# without either it cannot start, which the script reports. The same tool's libbpf port
# (Debian's libbpf-tools, /usr/sbin/offcputime: CO-RE, on a tp_btf or raw tracepoint on
# sched_switch, no headers, no kprobe) runs where that one cannot: when installed it is a
# peer, summing off-CPU time per stack in the kernel for every switch of at least 1 us
# (its default), printing nothing until it stops, so it has no records per second here.
# The other peer is bpftrace
# on tracepoint:sched:sched_switch doing what tandem does at threshold 1: the outgoing
# thread's kernel and user stacks and the time, kept per thread until the thread is
# switched back in, then summed per stack pair in the kernel (offcputime's shape).
# bpftrace needs tracefs; the script mounts it at /sys/kernel/tracing when absent.
#
# Not a test: numbers depend on the machine and its load. Run as root, not while
# anything else is CPU heavy.
#
# usage: bench/off-cpu-overhead.sh [ROUNDS] [ROUNDS_OF_RUNS]   (default: 200000 5)
#   SAMPLER=path   use this tandem-sampler instead of building the release one
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-200000}
REPEATS=${2:-5}
SETTLE=2  # seconds after the profiler says it runs (the sampler's first process snapshot)

[ "$(id -u)" -eq 0 ] || { echo "off-cpu-overhead: run as root (loads BPF)" >&2; exit 1; }
for tool in bpftrace python3 cc taskset; do
    command -v "$tool" >/dev/null || { echo "off-cpu-overhead: needs $tool (apt-get install -y bpftrace python3 gcc)" >&2; exit 1; }
done

export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${SAMPLER:-}" ]; then
    swift build -c release --product tandem-sampler >/dev/null
    SAMPLER="$(swift build -c release --show-bin-path)/tandem-sampler"
fi
WORK=$(mktemp -d)
PROFILER_PID=""
cleanup() {
    [ -n "$PROFILER_PID" ] && kill "$PROFILER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cc -O2 -pthread -o "$WORK/ping-pong" bench/pipe-ping-pong.c
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

# The inspector of capture files: the built aggregator next to the sampler, or a debug one.
AGGREGATOR="$(dirname "$SAMPLER")/tandem-aggregator"
[ -x "$AGGREGATOR" ] || AGGREGATOR="$(swift build --show-bin-path)/tandem-aggregator"
[ -x "$AGGREGATOR" ] || { swift build --product tandem-aggregator >/dev/null; AGGREGATOR="$(swift build --show-bin-path)/tandem-aggregator"; }

cat > "$WORK/peer.bt" <<'BT'
tracepoint:sched:sched_switch
{
  if (args->prev_pid != 0) {
    @start[args->prev_pid] = nsecs;
    @kstk[args->prev_pid] = kstack;
    @ustk[args->prev_pid] = ustack;
  }
  $s = @start[args->next_pid];
  if ($s != 0) {
    @off[@kstk[args->next_pid], @ustk[args->next_pid]] = sum(nsecs - $s);
    @waits = count();
    delete(@start[args->next_pid]);
    delete(@kstk[args->next_pid]);
    delete(@ustk[args->next_pid]);
  }
}
END { clear(@start); clear(@kstk); clear(@ustk); clear(@off); }
BT

echo "off-cpu-overhead: trying offcputime (bpfcc-tools) as the issue's peer" >&2
if command -v offcputime-bpfcc >/dev/null; then
    if timeout 20 offcputime-bpfcc -f 1 >"$WORK/offcputime.out" 2>"$WORK/offcputime.err"; then
        echo "off-cpu-overhead: offcputime runs here; this script still compares with bpftrace" >&2
    else
        echo "off-cpu-overhead: offcputime cannot start on this kernel: $(grep -v '^ ' "$WORK/offcputime.err" | tail -1)" >&2
    fi
else
    echo "off-cpu-overhead: offcputime-bpfcc is not installed (apt-get install -y bpfcc-tools)" >&2
fi

# CPU seconds of PID's threads so far (the scheduler's run time); 0 without a PID. Only
# the profiler's user-space side and its system calls: its BPF programs run in the
# switching threads' time, which the wall time holds.
cpu_seconds() {
    [ -n "$1" ] || { echo 0; return; }
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'
}

# wait_for TEXT FILE: until the profiler writes TEXT to FILE (its start-up, which on a busy
# machine takes a varying few seconds, stays out of the timed exchange), at most 120 s.
wait_for() {
    for _ in $(seq 1200); do
        grep -q "$1" "$2" 2>/dev/null && return 0
        kill -0 "$PROFILER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "off-cpu-overhead: the profiler did not start:" >&2
    tail -5 "$2" >&2
    exit 1
}

# run CONFIG: one timed exchange under CONFIG; appends "CONFIG seconds records_per_second" to results.
run() {
    local config=$1 records="" seconds t0 t1 cpu0 cpu1
    case "$config" in
        none) ;;
        tandem-*)
            "$SAMPLER" --output "$WORK/capture" --off-cpu-threshold "${config#tandem-}" --log-level info 2>"$WORK/sampler.err" &
            PROFILER_PID=$!
            wait_for "stream started" "$WORK/sampler.err" ;;
        bpftrace)
            bpftrace "$WORK/peer.bt" >"$WORK/bpftrace.out" 2>"$WORK/bpftrace.err" &
            PROFILER_PID=$!
            wait_for "Attaching" "$WORK/bpftrace.out" ;;
        offcputime)
            # It says nothing when it starts: wait until it holds a loaded BPF program.
            /usr/sbin/offcputime >"$WORK/offcputime-libbpf.out" 2>"$WORK/offcputime-libbpf.err" &
            PROFILER_PID=$!
            for _ in $(seq 1200); do
                ls -l /proc/"$PROFILER_PID"/fd 2>/dev/null | grep -q 'bpf-prog' && break
                kill -0 "$PROFILER_PID" 2>/dev/null || { tail -5 "$WORK/offcputime-libbpf.err" >&2; exit 1; }
                sleep 0.1
            done ;;
    esac
    [ "$config" = none ] || sleep "$SETTLE"
    t0=$(date +%s.%N)
    cpu0=$(cpu_seconds "$PROFILER_PID")
    seconds=$(taskset -c 0 "$WORK/ping-pong" "$ROUNDS" | sed 's/.*seconds=//')
    cpu1=$(cpu_seconds "$PROFILER_PID")
    t1=$(date +%s.%N)
    if [ -n "$PROFILER_PID" ]; then
        # SIGTERM, not SIGINT: a background job of a script starts with SIGINT ignored.
        if ! kill -TERM "$PROFILER_PID" 2>/dev/null; then
            echo "off-cpu-overhead: $config had stopped before the exchange ended:" >&2
            cat "$WORK/sampler.err" "$WORK/bpftrace.err" 2>/dev/null | tail -5 >&2
            exit 1
        fi
        wait "$PROFILER_PID" || true
        PROFILER_PID=""
    fi
    # Records per second of the exchange (the few of the settling seconds counted in).
    case "$config" in
        tandem-*)
            # off_cpu_samples counts the records made; drops_ring_buffer_full the ones (of any
            # sample) that found the ring buffer full and were lost, counted.
            local statistics lost
            statistics=$("$AGGREGATOR" inspect "$WORK/capture" 2>/dev/null | awk '$2 == "statistics"' | tail -1 | tr ' ' '\n')
            records=$(echo "$statistics" | sed -n 's/^off_cpu_samples=//p')
            lost=$(echo "$statistics" | sed -n 's/^drops_ring_buffer_full=//p')
            records=$(python3 -c "import sys; d = float(sys.argv[4]) - float(sys.argv[3]); print(f'{int(sys.argv[1]) / d:.0f}/{int(sys.argv[2]) / d:.0f}')" "${records:-0}" "${lost:-0}" "$t0" "$t1") ;;
        bpftrace)
            records=$(sed -n 's/^@waits: //p' "$WORK/bpftrace.out")
            records=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.0f}/0')" "${records:-0}" "$t0" "$t1") ;;
        *) records="-" ;;
    esac
    local profiler_cpu
    profiler_cpu=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$cpu0" "$cpu1")
    echo "$config $seconds $records $profiler_cpu" >>"$WORK/results"
    echo "off-cpu-overhead: $config ${seconds}s $records records/s, profiler ${profiler_cpu} CPU s" >&2
}

CONFIGS=(none tandem-0.01 tandem-0.1 tandem-1 bpftrace)
[ -x /usr/sbin/offcputime ] && CONFIGS+=(offcputime)
for repeat in $(seq "$REPEATS"); do
    echo "off-cpu-overhead: round $repeat of $REPEATS" >&2
    for config in "${CONFIGS[@]}"; do run "$config"; done
done

python3 - "$WORK/results" "$ROUNDS" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
rounds = int(sys.argv[2])
order = ["none", "tandem-0.01", "tandem-0.1", "tandem-1", "bpftrace", "offcputime"]
names = {"none": "no profiler", "tandem-0.01": "tandem, threshold 0.01", "tandem-0.1": "tandem, threshold 0.1",
         "tandem-1": "tandem, threshold 1", "bpftrace": "bpftrace sched_switch (every switch)",
         "offcputime": "offcputime, libbpf-tools (every switch of 1 us or more)"}
base = statistics.median(float(r[1]) for r in rows if r[0] == "none")
print(f"| profiler | median wall time ({rounds} round trips) | slowdown | µs per round trip | off-CPU records per second, made | of which lost (ring buffer full) | profiler's own CPU during it |")
print("|---|---:|---:|---:|---:|---:|---:|")
for config in order:
    if not any(r[0] == config for r in rows):
        continue
    times = [float(r[1]) for r in rows if r[0] == config]
    records = [tuple(map(float, r[2].split("/"))) for r in rows if r[0] == config and r[2] != "-"]
    median = statistics.median(times)
    rate = f"{statistics.median(m for m, _ in records):,.0f}" if records else "–"
    lost = f"{statistics.median(l for _, l in records):,.0f}" if records else "–"
    cpu = statistics.median(float(r[3]) for r in rows if r[0] == config)
    print(f"| {names[config]} | {median:.3f} s (min {min(times):.3f}, max {max(times):.3f}) | {median / base:.2f}× | {median / rounds * 1e6:.2f} | {rate} | {lost} | {cpu:.2f} s |")
PY
