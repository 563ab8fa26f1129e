#!/usr/bin/env bash
# Two aggregator builds replaying the same large-host stream, interleaved (issue 17): for
# each round, A then B, each alone. One replay of bench/large-host.sh's stream gave 18.0x
# and 12.6x real time on two days with the same code, so a change to the replay path is
# judged by A and B of the same round, not against an earlier figure. Prints one row per
# replay: wall and CPU seconds (GNU time), speed against real time, peak RSS, the share of
# the machine's CPU time its hypervisor stole meanwhile (/proc/stat: a replay that runs slow
# while much is stolen is the host's, not the build's), and the load average at its end.
# Not a test.
#
# The stream is bench/large-host.sh's (tandem-bench large-host), generated first if
# WORK_DIR does not hold it; build tandem-bench in release first (bench/large-host.sh does).
#
#   bench/large-host-ab.sh A_AGGREGATOR B_AGGREGATOR [ROUNDS] [WORK_DIR] [SIMULATED_SECONDS] [SHAPE]
#   (default 3 /tmp/tandem-large-host 600 uniform)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 A_AGGREGATOR B_AGGREGATOR [ROUNDS] [WORK_DIR] [SIMULATED_SECONDS] [SHAPE]" >&2; exit 2; }
a=$1 b=$2
rounds=${3:-3}
work=${4:-/tmp/tandem-large-host}
seconds=${5:-600}
shape=${6:-uniform}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
for binary in "$a" "$b"; do
    [ -x "$binary" ] || { echo "large-host-ab: $binary is not an executable aggregator" >&2; exit 1; }
done
mkdir -p "$work"
# The same stream names as bench/large-host.sh, so that either reuses the other's.
if [[ $shape == uniform ]]; then stream=$work/large-host-$seconds.tandem; else stream=$work/large-host-$seconds-$shape.tandem; fi
if [[ ! -s $stream ]]; then
    bench=.build/release/tandem-bench
    [ -x "$bench" ] || { echo "large-host-ab: $bench is missing: swift build -c release --product tandem-bench" >&2; exit 1; }
    "$bench" large-host "$stream" --seconds "$seconds" --shape "$shape" >&2
fi
times=$(mktemp /tmp/tandem-large-host-ab.XXXXXX)
trap 'rm -f "$times"' EXIT

# Jiffies of every CPU: the steal column, and all columns.
stolen() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

echo "| round | build | wall s | CPU s | speed (wall) | peak RSS | stolen | load average at the end |"
echo "|---:|---|---:|---:|---:|---:|---:|---|"
for round in $(seq "$rounds"); do
    for build in A B; do
        binary=$a
        [ "$build" = B ] && binary=$b
        read -r steal0 total0 < <(stolen)
        /usr/bin/time -v -o "$times" "$binary" replay --metrics-out /dev/null --log-level warning "$stream"
        read -r steal1 total1 < <(stolen)
        steal=$(awk -v s="$((steal1 - steal0))" -v t="$((total1 - total0))" 'BEGIN { printf "%.1f %%", (t > 0 ? s / t * 100 : 0) }')
        awk -F': ' -v round="$round" -v build="$build" -v seconds="$seconds" -v steal="$steal" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
            /Elapsed \(wall clock\)/ { n = split($2, part, ":"); for (i = 1; i <= n; i++) wall = wall * 60 + part[i] }
            /User time/ { cpu += $2 }
            /System time/ { cpu += $2 }
            /Maximum resident/ { peak = $2 }
            END { printf "| %d | %s | %.1f | %.1f | %.1fx | %.0f MiB | %s | %s |\n", round, build, wall, cpu, seconds / wall, peak / 1024, steal, load }
        ' "$times"
    done
done
