#!/usr/bin/env bash
# Start-up (issue 17): how soon after tandem starts a process's samples are whole.
#
#   sampler    seconds from the sampler's exec to its "sampling" log line (its own BPF
#              program verified and attached), and to each interpreter walker's "loaded"
#              line (the walkers load beside it: InterpreterLoading's WalkerPrograms)
#   cold       an -O2 program without frame pointers (Tests/Workloads/unwind_o2.c) started
#              with the sampler, for SECONDS of CPU: the share of its samples whose user
#              stack reaches main (its unwind tables must be compiled and loaded first)
#   later      the same program, a fresh copy (a new inode: its table not compiled yet),
#              started once tandem has run for a while
#   python     a CPython loop started with the sampler: the share of its samples with
#              Python frames (its walker and its process record must be in first)
#
# Run as root from the package root after (one product per command: SwiftPM builds only the
# last --product it is given)
#   swift build -c release --product tandem-sampler
#   swift build -c release --product tandem-aggregator
# Usage: bench/start-up.sh [SECONDS] [BIN]      (default 10, .build/release)
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
BIN=${2:-.build/release}
WORK=$(mktemp -d /tmp/tandem-start-up.XXXXXX)
chmod 755 "$WORK"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

cc -O2 -fomit-frame-pointer -o "$WORK/o2_cold" Tests/Workloads/unwind_o2.c
cp "$WORK/o2_cold" "$WORK/o2_later"
cat > "$WORK/loop.py" <<'PY'
import sys, time
def work():
    total = 0
    for i in range(10000):
        total += i * i
    return total
def main(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        work()
main(float(sys.argv[1]))
PY

mkdir "$WORK/captures"
"$BIN/tandem-aggregator" serve --socket "$WORK/a.sock" --capture "$WORK/captures" --metrics-out /dev/null \
    > "$WORK/aggregator.log" 2>&1 &
aggregator=$!
while [ ! -S "$WORK/a.sock" ]; do sleep 0.1; done

start=$(date +%s.%N)
"$BIN/tandem-sampler" --socket "$WORK/a.sock" --samples-per-second 99 > "$WORK/sampler.log" 2>&1 &
sampler=$!
"$WORK/o2_cold" "$SECONDS_PER_RUN" & cold=$!
python3 "$WORK/loop.py" "$SECONDS_PER_RUN" & python=$!
until grep -q '] sampling' "$WORK/sampler.log" 2>/dev/null; do sleep 0.01; done
sampling=$(date +%s.%N)
wait "$cold" "$python" || true
"$WORK/o2_later" "$SECONDS_PER_RUN" & later=$!
wait "$later" || true
kill -INT "$sampler"; wait "$sampler" || true
kill -INT "$aggregator"; wait "$aggregator" || true

echo "| measure | value |"
echo "|---|---|"
printf '| sampler: exec to sampling (s) | %.2f |\n' "$(echo "$sampling - $start" | bc)"
# Each walker's load time as the loader logged it; it loads them one after the other from
# about when sampling starts, so the running sum is when each is in.
grep 'interpreter walker loaded' "$WORK/sampler.log" | sed -E 's/.*took=([0-9.]+) seconds walker=([a-z0-9_]+).*/\2 \1/' |
    awk '{ sum += $2; printf "| %s | loaded in %.2f s; in use %.2f s after sampling started |\n", $1, $2, sum }'

capture=$(ls "$WORK"/captures/* | head -n 1)
"$BIN/tandem-aggregator" replay "$capture" --folded "$WORK/folded.txt" --metrics-out /dev/null > /dev/null 2>&1
share() {  # comm, pattern: the share of the comm's samples whose stack matches
    awk -v comm="$1" -v pattern="$2" '
        { n = $NF; split($0, frames, ";") }
        frames[1] == comm { total += n; if ($0 ~ pattern) hit += n }
        END { if (total == 0) print "no samples"; else printf "%.1f%% (%d/%d)", 100 * hit / total, hit, total }
    ' "$WORK/folded.txt"
}
echo "| cold: -O2 samples reaching main, started with the sampler | $(share o2_cold ';main(;| )') |"
echo "| later: -O2 samples reaching main, a new binary started later | $(share o2_later ';main(;| )') |"
echo "| python: samples with a Python frame, started with the sampler | $(share python3 'loop.py') |"
echo "logs and capture in $WORK"
