#!/usr/bin/env bash
# The aggregator on a large, busy host it is not running on (issue 17): tandem-bench
# large-host writes the stream of a 64-CPU host sampled at 99 Hz with 2,000 processes
# alive over 500 real ELF files of this machine and 50 exec/exit a second, for 10
# simulated minutes; the release aggregator replays it (metrics on, every exporter off)
# while this script reads its RSS every second. Prints the replay speed against real
# time, CPU seconds, peak RSS and RSS at each quarter of the run (flat when caches are
# bounded and dead processes are forgotten).
#
# SHAPE is the generator's stack shape: `uniform` (every frame at a random address of its
# process, nearly every stack new: the first runs' figures) or `hot-code` (each file's
# fixed hot code, shared by the processes of a binary; common kernel paths).
# AGGREGATOR=path replays with that binary instead of building the release one (the
# figure of an older build); NO_BUILD=1 builds nothing (the release tandem-bench must be
# there: while a debug build holds .build's lock); the stream is kept in WORK_DIR and reused.
#
#   bench/large-host.sh [WORK_DIR] [SIMULATED_SECONDS] [SHAPE]    (default /tmp/tandem-large-host, 600, uniform)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
work=${1:-/tmp/tandem-large-host}
seconds=${2:-600}
shape=${3:-uniform}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
mkdir -p "$work"
bin=$root/.build/release
if [[ -z ${AGGREGATOR:-} ]]; then
    [[ ${NO_BUILD:-0} == 1 ]] || (cd "$root" && nice -n 5 swift build -c release --product tandem-aggregator >&2)
    AGGREGATOR=$bin/tandem-aggregator
fi
[[ ${NO_BUILD:-0} == 1 ]] || (cd "$root" && nice -n 5 swift build -c release --product tandem-bench >&2)
# The first streams (uniform) kept their name: a stream of the same shape is reused.
if [[ $shape == uniform ]]; then stream=$work/large-host-$seconds.tandem; else stream=$work/large-host-$seconds-$shape.tandem; fi
[[ -s $stream ]] || "$bin/tandem-bench" large-host "$stream" --seconds "$seconds" --shape "$shape" >&2
"$bin/tandem-bench" count "$stream"

rss_log=$work/rss.log
: > "$rss_log"
/usr/bin/time -v -o "$work/time.txt" "$AGGREGATOR" replay --metrics-out /dev/null --log-level warning "$stream" &
timer=$!
# The aggregator is time's child; its RSS, once a second, until it exits.
while kill -0 "$timer" 2>/dev/null; do
    child=$(cat "/proc/$timer/task/$timer/children" 2>/dev/null | awk '{print $1}')
    [[ -n $child ]] && awk '/^VmRSS/ {print $2}' "/proc/$child/status" 2>/dev/null >> "$rss_log" || true
    sleep 1
done
wait "$timer"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
system=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
peak=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.txt")
awk -v seconds="$seconds" -v user="$user" -v sys="$system" -v wall="$wall" -v peak="$peak" '
    { rss[NR] = $1 }
    END {
        n = split(wall, part, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + part[i]
        cpu = user + sys
        printf "simulated %d s replayed in %.1f s wall, %.1f s CPU: %.1fx real time (wall), %.1fx (CPU)\n", seconds, w, cpu, seconds / w, seconds / cpu
        printf "peak RSS %.0f MiB; RSS at 25/50/75/100%% of the replay:", peak / 1024
        for (q = 1; q <= 4; q++) { i = int(NR * q / 4); if (i < 1) i = 1; printf " %.0f", rss[i] / 1024 }
        printf " MiB (%d readings)\n", NR
    }' "$rss_log"
