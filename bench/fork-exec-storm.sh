#!/usr/bin/env bash
# The sampler's state under process churn (issue 17): two loops start short processes
# (Tests/Workloads/spin.c for 2 ms of CPU each, fork and exec) for SECONDS while the sampler
# writes a capture at HZ. Prints the sampler's RSS at each fifth of the storm (flat when its
# tables forget exited processes), the processes started, and from the capture: the
# processes described, their exits, and the ones the stream still holds at the end (a
# process record with no exit after it; none should be one of the storm's). Not a test.
# Run as root.
#
#   bench/fork-exec-storm.sh [SAMPLER] [SECONDS] [HZ]   (default .build/release/tandem-sampler 60 999)
set -euo pipefail
cd "$(dirname "$0")/.."
sampler=${1:-.build/release/tandem-sampler}
seconds=${2:-60}
hz=${3:-999}
[ "$(id -u)" -eq 0 ] || { echo "fork-exec-storm: run as root (the sampler loads BPF)" >&2; exit 1; }
inspect=.build/release/tandem-aggregator
[ -x "$inspect" ] || inspect=.build/debug/tandem-aggregator
[ -x "$inspect" ] || { echo "fork-exec-storm: build tandem-aggregator first (it reads the capture)" >&2; exit 1; }
work=$(mktemp -d /tmp/tandem-storm.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O1 -fno-omit-frame-pointer -o "$work/spin" Tests/Workloads/spin.c

"$sampler" --output "$work/capture" --samples-per-second "$hz" --log-level info 2>"$work/sampler.log" &
pid=$!
until grep -q 'interpreter walkers ready' "$work/sampler.log" 2>/dev/null; do sleep 0.2; done
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/"$pid"/status; }
storm() {
    local end=$((SECONDS + seconds)) count=0
    while [ $SECONDS -lt $end ]; do "$work/spin" 0.002; count=$((count + 1)); done
    echo "$count" > "$work/count.$1"
}
readings=("$(rss)")
storm 1 & first=$!
storm 2 & second=$!
for _ in 1 2 3 4 5; do sleep "$(awk -v s="$seconds" 'BEGIN { print s / 5 }')"; readings+=("$(rss)"); done
wait "$first" "$second"
sleep 1
kill -INT "$pid"; wait "$pid" || true
started=$(( $(cat "$work/count.1") + $(cat "$work/count.2") ))
"$inspect" inspect "$work/capture" | awk -v started="$started" -v rss="${readings[*]}" -v seconds="$seconds" -v hz="$hz" '
    / process pid=/ && / comm="spin"/ {
        match($0, /pid=[0-9]+/); p = substr($0, RSTART + 4, RLENGTH - 4)
        described[p] = 1; open[p] = 1; records++
        if (p in exited) again++
    }
    / exit pid=/ { match($0, /pid=[0-9]+/); p = substr($0, RSTART + 4, RLENGTH - 4); if (p in described) { exits++; exited[p] = 1; delete open[p] } }
    END {
        n = 0; for (p in described) n++
        held = 0; for (p in open) held++
        printf "storm of %d s at %d Hz: %d processes started (%.0f a second)\n", seconds, hz, started, started / seconds
        printf "sampler RSS (MiB) at 0/20/40/60/80/100%% of the storm: %s\n", rss
        printf "the capture: %d of them described (%d process records), %d exits, %d described again after their exit, %d still held at the end\n", n, records, exits, again + 0, held
    }'
