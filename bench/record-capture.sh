#!/usr/bin/env bash
# Records the aggregator benchmark's workload twice at once, at 999 Hz on every
# CPU: with tandem-sampler (a capture file) and with `perf record -g -a` (a
# perf.data), so both tools are measured on the same samples' worth of work.
#
#   bench/record-capture.sh OUT_DIR [SECONDS]     (root; default 20 s)
#
# Workload: demo/tandem-demo mixed (CPU, TCP, pipes, fsync, futex; built with
# frame pointers) plus a pure-Python CPU loop, plus whatever else the machine
# runs. Writes OUT_DIR/capture.tandem and OUT_DIR/perf.data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
out=${1:?usage: record-capture.sh OUT_DIR [SECONDS]}
seconds=${2:-20}
mkdir -p "$out"
sampler=$root/.build/release/tandem-sampler
[[ -x $sampler ]] || (cd "$root" && swift build -c release --product tandem-sampler >&2)
demo=$(bash "$root/demo/build.sh" "$out/demo")

# Workload first, a little longer than the recording so it covers all of it.
"$demo" mixed $((seconds + 3)) &
demo_pid=$!
python3 -c '
import time
end = time.monotonic() + float(__import__("sys").argv[1])
def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
while time.monotonic() < end: fib(22)
' $((seconds + 3)) &
python_pid=$!
sleep 1

perf record -F 999 -g -a -o "$out/perf.data" -- sleep "$seconds" 2> "$out/perf-record.log" &
perf_pid=$!
"$sampler" --output "$out/capture.tandem" --duration "$seconds" --samples-per-second 999 --log-level warning
wait "$perf_pid"
wait "$demo_pid" "$python_pid" || true
ls -l "$out/capture.tandem" "$out/perf.data" >&2
