#!/bin/sh
# Share of samples whose user stack unwinds to the thread's root, with the
# aggregator's unwind tables and with frame pointers only, for three workloads
# without frame pointers; the same workloads under `perf record --call-graph dwarf`.
# Run as root from the package root after
#   swift build -c release --product tandem-sampler && swift build -c release --product tandem-aggregator
# Usage: bench/unwind-roots.sh [SECONDS] [UNWIND_TABLE_ENTRIES]
# A sample "reaches the root" when its outermost user frame is _start (the main
# thread) or clone / clone3 / start_thread (other threads), or when the frame after
# the outermost one is __libc_start_main: the outermost is then the _start of a
# stripped executable (coreutils), which no symbol names.
# Also prints the sampler's CPU time and the BPF program's run time per sample
# (kernel.bpf_stats_enabled is turned on for the run and restored after).
set -eu
SECONDS_PER_RUN=${1:-10}
ENTRIES=${2:-8388608}
BIN=${BIN:-.build/release}
WORK=$(mktemp -d /tmp/tandem-unwind-roots.XXXXXX)
gcc -O2 -fomit-frame-pointer -o "$WORK/unwind_o2" Tests/Workloads/unwind_o2.c
cat > "$WORK/busy.py" <<'PY'
import sys, time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    sorted(str(fib(18)) * 50)
PY

workloads() {
    "$WORK/unwind_o2" "$SECONDS_PER_RUN" || true
    /usr/bin/python3 "$WORK/busy.py" "$SECONDS_PER_RUN" || true
    timeout "$SECONDS_PER_RUN" sh -c 'yes | sha256sum' || true
}

# share COMM FOLDED: samples of COMM, of which reach the root.
share() {
    awk -v comm="$1" '
        { n = $NF; split($0, parts, ";"); if (parts[1] != comm) next
          outer = parts[2]; if (outer == "[truncated]") outer = parts[3]
          sub(/ [0-9]+$/, "", outer)
          next_frame = (parts[2] == "[truncated]") ? parts[4] : parts[3]
          sub(/ [0-9]+$/, "", next_frame)
          total += n
          if (outer == "_start" || outer == "clone" || outer == "clone3" || outer == "start_thread" || next_frame == "__libc_start_main") root += n }
        END { printf "%s: %d of %d samples reach the root (%.1f%%)\n", comm, root, total, total ? 100 * root / total : 0 }' "$2"
}

run() { # NAME ENTRIES
    rm -f "$WORK/a.sock"
    "$BIN/tandem-aggregator" serve --socket "$WORK/a.sock" --folded "$WORK/$1.folded" --metrics-out /dev/null > "$WORK/$1.aggregator.log" 2>&1 &
    aggregator=$!
    sleep 1
    "$BIN/tandem-sampler" --socket "$WORK/a.sock" --samples-per-second 99 --unwind-table-entries "$2" > "$WORK/$1.sampler.log" 2>&1 &
    sampler=$!
    sleep 3
    workloads
    # utime + stime of the sampler (clock ticks), and the BPF program's run time.
    ticks=$(awk '{print $14 + $15}' "/proc/$sampler/stat")
    bpf=$(bpftool prog show name tandem_sample 2>/dev/null | grep -o 'run_time_ns [0-9]* run_cnt [0-9]*' || true)
    kill -INT "$sampler"; wait "$sampler" || true
    kill -INT "$aggregator"; wait "$aggregator" || true
    echo "== $1 (--unwind-table-entries $2)"
    for comm in unwind_o2 python3 yes sha256sum; do share "$comm" "$WORK/$1.folded"; done
    grep -h "unwind tables:" "$WORK/$1.sampler.log" | sed 's/^.*tandem-sampler: //' || true
    grep -h "done:" "$WORK/$1.aggregator.log" | sed 's/^.*\] //' || true
    echo "sampler CPU: $ticks ticks of $(getconf CLK_TCK)/s; BPF: $bpf"
}

stats_before=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -q -w kernel.bpf_stats_enabled=1
trap 'sysctl -q -w kernel.bpf_stats_enabled=$stats_before' EXIT

run tables "$ENTRIES"
run frame-pointers 0

echo "== perf record --call-graph dwarf"
perf_share() { # NAME COMMAND...
    name=$1; shift
    perf record -q -F 99 --call-graph dwarf -o "$WORK/$name.perf" -- "$@" > /dev/null 2>&1 || true
    perf script -i "$WORK/$name.perf" -F comm,ip,sym 2>/dev/null | awk -v name="$name" '
        function close_sample() { if (have) { total++; if (last ~ /^(_start|clone|clone3|start_thread)$/ || before == "__libc_start_main") root++ } }
        /^\t/ { if (NF >= 2) { before = last; last = $2 }; next }
        NF > 0 { close_sample(); have = 1; last = ""; before = "" }
        END { close_sample()
              printf "%s: %d of %d samples reach the root (%.1f%%)\n", name, root, total, total ? 100 * root / total : 0 }'
}
perf_share unwind_o2 "$WORK/unwind_o2" "$SECONDS_PER_RUN"
perf_share python3 /usr/bin/python3 "$WORK/busy.py" "$SECONDS_PER_RUN"
perf_share yes-sha256sum timeout "$SECONDS_PER_RUN" sh -c 'yes | sha256sum'
echo "outputs in $WORK"
