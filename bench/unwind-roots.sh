#!/bin/sh
# Share of samples whose user stack unwinds to the thread's root, with the
# aggregator's unwind tables and with frame pointers only, for three workloads
# without frame pointers; the same workloads under `perf record --call-graph dwarf`.
# Run as root from the package root after
#   swift build -c release --product tandem-sampler --product tandem-aggregator
# Usage: bench/unwind-roots.sh [SECONDS] [UNWIND_TABLE_ENTRIES]
# A sample "reaches the root" when its outermost user frame is _start (the main
# thread) or clone / clone3 / start_thread (other threads).
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
    "$WORK/unwind_o2" "$SECONDS_PER_RUN"
    /usr/bin/python3 "$WORK/busy.py" "$SECONDS_PER_RUN"
    timeout "$SECONDS_PER_RUN" sh -c 'yes | sha256sum' || true
}

# share COMM FOLDED: samples of COMM, of which reach the root.
share() {
    awk -v comm="$1" '
        { n = $NF; split($0, parts, ";"); if (parts[1] != comm) next
          outer = parts[2]; if (outer == "[truncated]") outer = parts[3]
          sub(/ [0-9]+$/, "", outer)
          total += n
          if (outer == "_start" || outer == "clone" || outer == "clone3" || outer == "start_thread") root += n }
        END { printf "%s: %d of %d samples reach the root (%.1f%%)\n", comm, root, total, total ? 100 * root / total : 0 }' "$2"
}

run() { # NAME ENTRIES
    rm -f "$WORK/a.sock"
    "$BIN/tandem-aggregator" serve --socket "$WORK/a.sock" --folded "$WORK/$1.folded" > "$WORK/$1.aggregator.log" 2>&1 &
    aggregator=$!
    sleep 1
    "$BIN/tandem-sampler" --socket "$WORK/a.sock" --samples-per-second 99 --unwind-table-entries "$2" > "$WORK/$1.sampler.log" 2>&1 &
    sampler=$!
    sleep 3
    workloads
    kill -INT "$sampler"; wait "$sampler" || true
    kill -INT "$aggregator"; wait "$aggregator" || true
    echo "== $1 (--unwind-table-entries $2)"
    for comm in unwind_o2 python3 yes sha256sum; do share "$comm" "$WORK/$1.folded"; done
    grep -h "unwind tables:" "$WORK/$1.sampler.log" | sed 's/^.*tandem-sampler: //' || true
    grep -h "sampler_user_cpu\|done:" "$WORK/$1.aggregator.log" | sed 's/^.*\] //' || true
}

run tables "$ENTRIES"
run frame-pointers 0

echo "== perf record --call-graph dwarf"
perf_share() { # NAME COMMAND...
    name=$1; shift
    perf record -q -F 99 --call-graph dwarf -o "$WORK/$name.perf" -- "$@" > /dev/null 2>&1 || true
    perf script -i "$WORK/$name.perf" -F comm,ip,sym 2>/dev/null | awk -v name="$name" '
        function close_sample() { if (have) { total++; if (last ~ /^(_start|clone|clone3|start_thread)$/) root++ } }
        /^\t/ { if (NF >= 2) last = $2; next }
        NF > 0 { close_sample(); have = 1; last = "" }
        END { close_sample()
              printf "%s: %d of %d samples reach the root (%.1f%%)\n", name, root, total, total ? 100 * root / total : 0 }'
}
perf_share unwind_o2 "$WORK/unwind_o2" "$SECONDS_PER_RUN"
perf_share python3 /usr/bin/python3 "$WORK/busy.py" "$SECONDS_PER_RUN"
perf_share yes-sha256sum timeout "$SECONDS_PER_RUN" sh -c 'yes | sha256sum'
echo "outputs in $WORK"
