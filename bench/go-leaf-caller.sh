#!/bin/sh
# How many samples of a new Go process miss the caller of its frameless leaf, counted
# from the process's first sample (bench/go-leaf-caller.py). Three runs of
# Tests/Workloads/unwind_go.go for SECONDS of CPU time each, against one aggregator:
#   before  started 1 s before the sampler (the sampler finds it at start-up)
#   cold    started while tandem runs, its binary's table not compiled yet (a copy: new inode)
#   warm    the same binary again (its table is in the aggregator's cache)
# Run as root from the package root after `swift build`.
# Usage: [LOG_LEVEL=debug] bench/go-leaf-caller.sh [SECONDS] [BIN]
set -eu
SECONDS_PER_RUN=${1:-10}
BIN=${2:-.build/debug}
WORK=$(mktemp -d /tmp/tandem-go-leaf.XXXXXX)
export HOME="$WORK" GOCACHE="$WORK/go-cache" GOPATH="$WORK/go-path" GOPROXY=off CGO_ENABLED=0
go build -o "$WORK/unwind_go" Tests/Workloads/unwind_go.go
cp "$WORK/unwind_go" "$WORK/unwind_go_cold"

mkdir "$WORK/captures"
"$BIN/tandem-aggregator" serve --socket "$WORK/a.sock" --capture "$WORK/captures" --metrics-out /dev/null --log-level "${LOG_LEVEL:-info}" \
    > "$WORK/aggregator.log" 2>&1 &
aggregator=$!
while [ ! -S "$WORK/a.sock" ]; do sleep 0.1; done

"$WORK/unwind_go" "$SECONDS_PER_RUN" & before=$!
sleep 1
"$BIN/tandem-sampler" --socket "$WORK/a.sock" --samples-per-second 99 --unwind-table-entries 8388608 \
    > "$WORK/sampler.log" 2>&1 &
sampler=$!
until grep -q '"sampling"\|sampling' "$WORK/sampler.log" 2>/dev/null; do sleep 0.1; done
wait "$before" || true
"$WORK/unwind_go_cold" "$SECONDS_PER_RUN" & cold=$!
wait "$cold" || true
"$WORK/unwind_go" "$SECONDS_PER_RUN" & warm=$!
wait "$warm" || true
kill -INT "$sampler"; wait "$sampler" || true
kill -INT "$aggregator"; wait "$aggregator" || true

capture=$(ls "$WORK"/captures/* | head -n 1)
for run in "before $before unwind_go" "cold $cold unwind_go_cold" "warm $warm unwind_go"; do
    set -- $run
    printf '%s ' "$1"
    python3 bench/go-leaf-caller.py "$capture" "$2" "$WORK/$3" "$BIN/tandem-aggregator"
done
echo "logs and capture in $WORK"
