#!/usr/bin/env bash
# What the JVM walker (docs/jvm.md, issue 14) costs the BPF sampling program per sample: the
# release tandem-sampler at 99 Hz on every CPU, BPF statistics on (BPF_ENABLE_STATS, as
# kernel.bpf_stats_enabled=1 but not switched off by others), three windows of
# DURATION s, each with its own workload and sampler:
#   jvm       the known-truth JVM (Tests/Workloads/jvm/KnownTruth.java, Debian's OpenJDK 17,
#             2 worker threads), Java frames walked;
#   jvm-off   the same JVM, the sampler with --no-interpreter-frames: its samples take the
#             native path only (the same unwind tables);
#   native    two processes of Tests/Workloads/spin.c (frame pointers), walkers on: a
#             native-only workload's samples.
# Each window starts once the JVM's samples carry Java frames (the sampler's counter of Java
# frames walked moves) and WARMUP s more; jvm-off and native wait as long as jvm needed. Per
# window: run_time_ns / run_cnt of each tandem_* program the sampler holds (bpftool; a
# tail-called walker, tandem_jvm_sample, counts no runs of its own: its time is in
# tandem_sample's), the
# workload's CPU seconds (schedstat) and so its samples (CPU s x 99), and Java frames walked.
# The walker's cost per JVM sample is (ns/run jvm - ns/run jvm-off) x runs / JVM samples.
#
# tandem runs as scripts/run.sh runs it (bench/tandem-session.sh): release binaries (built if
# missing), the aggregator as the user `tandem`. Not a test (not run by CI): the numbers
# depend on the machine and its load. Run as root.
#
# usage: [DURATION=20] [WARMUP=5] [BIN=dir] [WORK=dir] bench/jvm-walker-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NAME=jvm-walker-cost.sh
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
HZ=99
JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
WORK=${WORK:-$(mktemp -d /tmp/tandem-jvmcost.XXXXXX)}
HOTSPOT_FRAMES=22  # TANDEM_COUNTER_HOTSPOT_FRAMES (bpf/tandem_hotspot.h)
for tool in java javac; do
    [ -x "$JAVA_HOME/bin/$tool" ] || { echo "$NAME: no $JAVA_HOME/bin/$tool (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 1; }
done
. bench/tandem-session.sh

mkdir -p "$WORK/bin"
"$JAVA_HOME/bin/javac" -d "$WORK/classes" Tests/Workloads/jvm/KnownTruth.java
ln -sfn "$JAVA_HOME/bin/java" "$WORK/bin/tjb-jvm"
cc -O1 -fno-omit-frame-pointer -o "$WORK/bin/tjb-spin" Tests/Workloads/spin.c

# start_workload MODE: the mode's processes, pids in WORKLOAD_PIDS.
start_workload() {
    if [ "$1" = native ]; then
        "$WORK/bin/tjb-spin" 100000 & WORKLOAD_PIDS+=($!)
        "$WORK/bin/tjb-spin" 100000 & WORKLOAD_PIDS+=($!)
    else
        "$WORK/bin/tjb-jvm" -cp "$WORK/classes" tandem.truth.KnownTruth 2 >"$WORK/$1.log" 2>&1 &
        WORKLOAD_PIDS+=($!)
        wait_for_line "$WORK/$1.log" ready 60 "${WORKLOAD_PIDS[-1]}"
    fi
    sleep 3  # the JVM's code compiled, past its start
}

workload_cpu() {
    local pid
    for pid in "${WORKLOAD_PIDS[@]}"; do cpu_seconds "$pid"; echo; done | awk '{ s += $1 } END { printf "%.6f", s }'
}

echo "tandem $(git rev-parse --short HEAD) ($BIN), $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%H:%MZ), work in $WORK"
hold_bpf_stats
settle=$WARMUP
: >"$WORK/windows"
for mode in jvm jvm-off native; do
    flags=(); [ "$mode" = jvm-off ] && flags=(--no-interpreter-frames)
    start_workload "$mode"
    start_tandem "$mode" "${flags[@]}"
    if [ "$mode" = jvm ]; then
        # The walk starts once the aggregator has read libjvm.so and named the JVM to the sampler.
        started=$(date +%s)
        for _ in $(seq 600); do
            frames=$(bpf_stats "$SAMPLER_PID" "$HOTSPOT_FRAMES" | grep -o "counter:$HOTSPOT_FRAMES=[0-9]*" | cut -d= -f2)
            [ "${frames:-0}" -gt 0 ] && break
            sleep 0.5
        done
        [ "${frames:-0}" -gt 0 ] || die "no Java frames walked in 300 s (logs in $WORK/jvm)"
        settle=$(($(date +%s) - started + WARMUP))
        echo "jvm: Java frames from $((settle - WARMUP)) s after the sampler started; every window starts $settle s after it"
    fi
    sleep "$settle"
    cpu0=$(workload_cpu); t0=$(date +%s.%N); bpf0=$(bpf_stats "$SAMPLER_PID" "$HOTSPOT_FRAMES")
    sleep "$DURATION"
    cpu1=$(workload_cpu); t1=$(date +%s.%N); bpf1=$(bpf_stats "$SAMPLER_PID" "$HOTSPOT_FRAMES")
    echo "$mode $cpu0 $cpu1 $t0 $t1 | $bpf0 | $bpf1" >>"$WORK/windows"
    for pid in "${WORKLOAD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    WORKLOAD_PIDS=()
    stop_tandem "$mode"
done
echo
python3 - "$WORK/windows" "$HZ" "$HOTSPOT_FRAMES" <<'PY'
import sys
hz, frames_counter = float(sys.argv[2]), f"counter:{sys.argv[3]}"
rows = {}
for line in open(sys.argv[1]):
    head, before, after = (part.split() for part in line.split("|"))
    mode, cpu0, cpu1, t0, t1 = head[0], *map(float, head[1:])
    def fields(items):
        values = dict(item.split("=", 1) for item in items)
        return {k: tuple(map(int, v.split("/"))) if "/" in v else int(v) for k, v in values.items()}
    b, a = fields(before), fields(after)
    programs = {}
    for name in a:
        if name.startswith("tandem_"):
            ns, runs = a[name][0] - b.get(name, (0, 0))[0], a[name][1] - b.get(name, (0, 0))[1]
            programs[name] = (ns, runs)
    rows[mode] = {"seconds": t1 - t0, "cpu": cpu1 - cpu0, "programs": programs,
                  "frames": a.get(frames_counter, 0) - b.get(frames_counter, 0)}
print("| window | workload | seconds | tandem_sample: ns per run | runs | tandem_jvm_sample: ns per run (runs) "
      "| workload CPU s | its samples (CPU s × 99) | Java frames walked |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
workloads = {"jvm": "KnownTruth JVM, Java frames", "jvm-off": "KnownTruth JVM, --no-interpreter-frames",
             "native": "2 × spin.c"}
for mode, row in rows.items():
    ns, runs = row["programs"].get("tandem_sample", (0, 0))
    jns, jruns = row["programs"].get("tandem_jvm_sample", (0, 0))
    jvm = f"{jns / jruns:,.0f} ({jruns:,})" if jruns else f"– (0 runs: {'tail-called' if 'tandem_jvm_sample' in row['programs'] else 'not in its program array'})"
    print(f"| {mode} | {workloads[mode]} | {row['seconds']:.1f} | {ns / runs if runs else float('nan'):,.0f} | {runs:,} | {jvm} "
          f"| {row['cpu']:.1f} | {row['cpu'] * hz:,.0f} | {row['frames']:,} |")
print()
def per_run(mode):
    ns, runs = rows[mode]["programs"]["tandem_sample"]
    return ns / runs, runs
if {"jvm", "jvm-off", "native"} <= rows.keys():
    (walked, runs), (off, _), (native, _) = per_run("jvm"), per_run("jvm-off"), per_run("native")
    samples = rows["jvm"]["cpu"] * hz
    print(f"Walker's cost per JVM sample: ({walked:,.0f} - {off:,.0f}) ns x {runs:,} runs / {samples:,.0f} JVM samples"
          f" = {(walked - off) * runs / samples / 1000:.1f} µs; a Java frame walked per JVM sample: "
          f"{rows['jvm']['frames'] / samples:.1f}; the native window's ns per run: {native:,.0f}.")
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs and outputs in $WORK"
