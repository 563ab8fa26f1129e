#!/usr/bin/env bash
# CPython frames (docs/cpython.md, issue 12): what tandem shows of the known-truth workload
# (Tests/Workloads/python/known_truth.py: innermost Python function alpha 50 %, Calc.beta 20 %,
# gamma 30 %) under every CPython the machine has, what the walk costs, and py-spy beside it.
#
# Parts (default: all three; each runs REPEAT times):
#   versions  Debian's python3.11 and pyenv's 3.8-3.13, each through a link named like its comm
#             (pyb-deb311, pyb-38 ... pyb-313: not the live tests' tpy-* names, so that a test run
#             beside it does not mix into these folded stacks), one process each, all at once,
#             profiled for DURATION s at 99 Hz; twice: started SETTLE s (default 5) after the
#             sampler began sampling ("after"), and 10 s before the sampler ("before"). Per
#             process: the shares, % of samples with Python frames, samples.cpython.count vs
#             Python-leaf samples, and from the capture the time from its first sample to its
#             first sample with Python frames.
#   cost      two Debian python3.11 workloads (both CPUs busy), DURATION s at 99 Hz, with the
#             Python walk and with --no-interpreter-frames, REPEAT times alternately: BPF time
#             per run of tandem_sample (BPF_ENABLE_STATS held, bpftool) and the sampler's
#             CPU (its threads' schedstat), both after a 5 s warm-up.
#   peer      one Debian python3.11 workload, profiled by tandem and by
#             `py-spy record --native --rate 99 -f raw` at the same time for DURATION s.
#
# tandem runs as scripts/run.sh runs it: the aggregator as the unprivileged user `tandem`
# (setpriv, no capabilities), the sampler as root. Release binaries (built if missing).
# py-spy comes from PyPI into a venv under WORK (PYSPY=path uses another).
# Not a test (not run by CI): the numbers depend on the machine and its load. Run as root.
#
# usage: [DURATION=30] [REPEAT=3] [SETTLE=5] [BIN=dir] [WORK=dir] [PYSPY=path] bench/cpython.sh [versions|cost|peer]...
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="/opt/swift/usr/bin:$PATH" PYTHONDONTWRITEBYTECODE=1

DURATION=${DURATION:-30}
REPEAT=${REPEAT:-3}
HZ=99
WARMUP=5
SETTLE=${SETTLE:-5}
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(versions cost peer)
for part in "${PARTS[@]}"; do
    case $part in versions|cost|peer) ;; *) echo "cpython.sh: unknown part '$part' (versions, cost, peer)" >&2; exit 2;; esac
done

die() { echo "cpython.sh: $*" >&2; exit 1; }
PYTHONS=(
    "pyb-deb311 /usr/bin/python3.11"
    "pyb-38 /root/.pyenv/versions/3.8.18/bin/python3.8"
    "pyb-39 /root/.pyenv/versions/3.9.18/bin/python3.9"
    "pyb-310 /root/.pyenv/versions/3.10.13/bin/python3.10"
    "pyb-311 /root/.pyenv/versions/3.11.7/bin/python3.11"
    "pyb-312 /root/.pyenv/versions/3.12.1/bin/python3.12"
    "pyb-313 /root/.pyenv/versions/3.13.0/bin/python3.13"
)
for entry in "${PYTHONS[@]}"; do
    read -r comm interpreter <<<"$entry"
    [ -x "$interpreter" ] || die "$interpreter ($comm) is missing (the image's pyenv and Debian's python3.11, see DESIGN.md)"
done
SCRIPT=$ROOT/Tests/Workloads/python/known_truth.py

WORK=${WORK:-$(mktemp -d /tmp/tandem-cpython.XXXXXX)}
NAME=cpython.sh
# The release daemons, the user tandem, WORK, start_tandem/stop_tandem, cpu_seconds, bpf_stats.
. bench/tandem-session.sh
mkdir -p "$WORK/bin"
export TANDEM_BENCH_LINKS=$WORK/bin
WORKLOADS_STARTED=0

# start_workload COMM INTERPRETER: known_truth.py through WORK/bin/COMM (comm from the exec);
# returns once it printed "ready". Its pid is the last of WORKLOAD_PIDS.
start_workload() {
    local comm=$1 interpreter=$2 log
    WORKLOADS_STARTED=$((WORKLOADS_STARTED + 1))
    log=$WORK/workload-$WORKLOADS_STARTED-$comm.log
    ln -sfn "$interpreter" "$WORK/bin/$comm"
    "$WORK/bin/$comm" "$SCRIPT" "$comm" 1 >"$log" 2>&1 &
    WORKLOAD_PIDS+=($!)
    for _ in $(seq 300); do
        grep -q ready "$log" 2>/dev/null && return 0
        kill -0 "${WORKLOAD_PIDS[-1]}" 2>/dev/null || { cat "$log" >&2; die "$comm exited"; }
        sleep 0.1
    done
    die "$comm did not start in 30 s"
}

stop_workloads() {
    for pid in "${WORKLOAD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${WORKLOAD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    WORKLOAD_PIDS=()
}

# "run_time_ns run_cnt walks" of the sampler PID's tandem_sample program and its counter
# TANDEM_COUNTER_CPYTHON_WALKS (bpf/tandem_sampler.h), from bench/tandem-session.sh's bpf_stats.
cpython_bpf_stats() {
    bpf_stats "$1" 14 | tr ' ' '\n' | awk -F'[=/]' '$1 == "tandem_sample" { ns = $2; runs = $3 } $1 == "counter:14" { walks = $2 } END { print ns, runs, walks }'
}

# start_all ARRAY: every interpreter of PYTHONS; appends COMM=PID to the array named ARRAY.
start_all() {
    local -n started=$1
    local entry comm interpreter
    for entry in "${PYTHONS[@]}"; do
        read -r comm interpreter <<<"$entry"
        start_workload "$comm" "$interpreter"
        started+=("$comm=${WORKLOAD_PIDS[-1]}")
    done
}

part_versions() {
    local i mode pairs run
    for i in $(seq "$REPEAT"); do
    for mode in after before; do
        run=versions-$i-$mode
        echo "### versions, run $i: workloads started $mode the sampler ($(date -u +%H:%M) UTC, ${DURATION} s at $HZ Hz)"
        pairs=()
        if [ "$mode" = before ]; then
            start_all pairs
            sleep 10
            start_tandem "$run"
        else
            start_tandem "$run"
            sleep "$SETTLE"  # past the stream's start-up (the snapshot of every running process)
            start_all pairs
        fi
        sleep "$DURATION"
        stop_workloads
        sleep 1  # the exits reach the stream
        stop_tandem "$run"
        python3 bench/cpython.py versions "$WORK/$run/out" "$WORK/$run/captures" "$BIN/tandem-aggregator" "${pairs[@]}"
        echo
    done
    done
}

part_cost() {
    hold_bpf_stats
    echo "### cost: two pyb-cost workloads (Debian python3.11), ${DURATION} s at $HZ Hz after ${WARMUP} s, $(date -u +%H:%M) UTC"
    echo "| run | Python walk | BPF µs per run of tandem_sample | runs | of them walked (Python) | sampler CPU per wall second | sampler's cpython counters at exit |"
    echo "|---:|---|---:|---:|---:|---:|---|"
    local i walk flags run cpu0 t0 bpf0 cpu1 t1 bpf1 counters ns0 n0 w0 ns1 n1 w1
    for i in $(seq "$REPEAT"); do
        for walk in on off; do
            flags=(); [ "$walk" = off ] && flags=(--no-interpreter-frames)
            run=cost-$i-$walk
            start_workload pyb-cost /usr/bin/python3.11
            start_workload pyb-cost /usr/bin/python3.11
            start_tandem "$run" "${flags[@]}"
            sleep "$WARMUP"
            cpu0=$(cpu_seconds "$SAMPLER_PID"); t0=$(date +%s.%N); bpf0=$(cpython_bpf_stats "$SAMPLER_PID")
            sleep "$DURATION"
            cpu1=$(cpu_seconds "$SAMPLER_PID"); t1=$(date +%s.%N); bpf1=$(cpython_bpf_stats "$SAMPLER_PID")
            stop_workloads
            stop_tandem "$run"
            counters=$(grep -o 'cpython: [^[]*' "$WORK/$run/sampler.log" | head -n 1 | sed 's/^cpython: //; s/ *$//' || true)
            read -r ns0 n0 w0 <<<"$bpf0"
            read -r ns1 n1 w1 <<<"$bpf1"
            python3 - "$i" "$walk" "$cpu0" "$cpu1" "$t0" "$t1" "$ns0" "$n0" "$w0" "$ns1" "$n1" "$w1" "${counters:-–}" <<'PY'
import sys
i, walk = sys.argv[1:3]
cpu0, cpu1, t0, t1, ns0, n0, w0, ns1, n1, w1 = map(float, sys.argv[3:13])
runs = n1 - n0
per_run = (ns1 - ns0) / runs / 1000 if runs > 0 else float("nan")
walked = f"{int(w1 - w0)} ({100 * (w1 - w0) / runs:.0f} %)" if runs > 0 else "–"
print(f"| {i} | {walk} | {per_run:.2f} | {int(runs)} | {walked} | {(cpu1 - cpu0) / (t1 - t0) * 100:.3f}% | {sys.argv[13]} |")
PY
        done
    done
    echo
}

part_peer() {
    local pyspy=${PYSPY:-} i pid run
    if [ -z "$pyspy" ]; then
        if [ ! -x "$WORK/venv/bin/py-spy" ]; then
            python3 -m venv "$WORK/venv" || die "python3 -m venv failed (apt-get install -y python3-venv)"
            "$WORK/venv/bin/pip" install --quiet py-spy || die "pip install py-spy failed"
        fi
        pyspy=$WORK/venv/bin/py-spy
    fi
    for i in $(seq "$REPEAT"); do
        run=peer-$i
        echo "### peer, run $i: pyb-spy (Debian python3.11), tandem and $("$pyspy" --version) at once, ${DURATION} s at $HZ Hz, $(date -u +%H:%M) UTC"
        start_tandem "$run"
        start_workload pyb-spy /usr/bin/python3.11
        pid=${WORKLOAD_PIDS[-1]}
        "$pyspy" record --native --rate "$HZ" --duration "$DURATION" --format raw --output "$WORK/$run/py-spy.txt" \
            --pid "$pid" >"$WORK/$run/py-spy.log" 2>&1 || { cat "$WORK/$run/py-spy.log" >&2; die "py-spy failed"; }
        stop_workloads
        sleep 1
        stop_tandem "$run"
        python3 bench/cpython.py peer "$WORK/$run/out" pyb-spy "$WORK/$run/py-spy.txt"
        echo
    done
}

echo "tandem $(git rev-parse --short HEAD) ($BIN), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), work in $WORK"
echo
for part in "${PARTS[@]}"; do "part_$part"; done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs, captures and outputs in $WORK"
