#!/usr/bin/env bash
# tandem against Node's own CPU profiler on the same process (issue 14, docs/v8.md): the
# known-truth workload (Tests/Workloads/node/known_truth.js: fnAlpha, the closure beta and the
# async fnGamma share its work about 50/20/30 %, each through `spin`, and print the CPU time
# each took) run for DURATION s as
#   node --cpu-prof --cpu-prof-dir=DIR known_truth.js DURATION
# (V8's sampling profiler, every 1 ms on the main thread; it writes its .cpuprofile as the
# process exits) while tandem samples every CPU at 99 Hz. Prints (bench/runtime-compare.py
# cpuprof) each profiler's share of the innermost of the three functions beside the
# workload's truth, and each one's top 10 leaf (self-time) functions with the other's share.
#
# tandem runs as scripts/run.sh runs it (bench/tandem-session.sh): release binaries (built if
# missing), the aggregator as the user `tandem`. Not a test (not run by CI). Run as root.
#
# usage: [DURATION=30] [BIN=dir] [WORK=dir] bench/node-cpu-prof-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NAME=node-cpu-prof-compare.sh
DURATION=${DURATION:-30}
HZ=99
WORK=${WORK:-$(mktemp -d /tmp/tandem-cpuprof.XXXXXX)}
COMM=tjb-node
NODE=$(command -v node) || { echo "$NAME: needs node (Node.js 20)" >&2; exit 1; }
. bench/tandem-session.sh

mkdir -p "$WORK/bin" "$WORK/cpuprof"
# Through a link named like the comm, as the live test runs it: told from every other node.
ln -sfn "$(readlink -f "$NODE")" "$WORK/bin/$COMM"

echo "tandem $(git rev-parse --short HEAD) ($BIN), node $("$NODE" --version), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%H:%MZ), work in $WORK"
start_tandem node
"$WORK/bin/$COMM" --cpu-prof --cpu-prof-dir="$WORK/cpuprof" Tests/Workloads/node/known_truth.js "$DURATION" \
    >"$WORK/workload.log" 2>&1 &
WORKLOAD_PIDS+=($!)
wait "${WORKLOAD_PIDS[-1]}" || die "node failed (log: $WORK/workload.log)"
WORKLOAD_PIDS=()
sleep 1  # the exit reaches the stream
stop_tandem node
profile=$(ls "$WORK"/cpuprof/*.cpuprofile 2>/dev/null | head -n 1)
[ -n "$profile" ] || die "node wrote no .cpuprofile in $WORK/cpuprof"
echo "workload's last line: $(grep '^truth ' "$WORK/workload.log" | tail -n 1)"
echo
python3 bench/runtime-compare.py cpuprof "$WORK/node/out/stacks.folded" "$COMM" "$profile" "$WORK/workload.log"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs and outputs in $WORK"
