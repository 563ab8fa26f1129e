#!/usr/bin/env bash
# The V8 walker's BPF cost per sample (docs/benchmarks.md): tandem's BPF program alone
# (scripts/v8-layouts/check_walker.py) sampling every CPU at 99 Hz while Node runs
# Tests/Workloads/node/known_truth.js, once with the node process followed by the V8 walker
# and once not. kernel.bpf_stats_enabled gives the program's total run time; the difference,
# over the node process's samples, is what the walker adds to each of them.
#
#   sudo bench/v8-walker-cost.sh [SECONDS]      (root: loads BPF)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
object=$(mktemp --suffix=.o)
trap 'rm -f "$object"; kill "$node" 2>/dev/null || true; sysctl -q kernel.bpf_stats_enabled=0' EXIT
clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -Ibpf \
    -c bpf/sampler.bpf.c -o "$object"
sysctl -q kernel.bpf_stats_enabled=1
node Tests/Workloads/node/known_truth.js > /dev/null &
node=$!
sleep 2
for mode in --unfollowed --followed; do
    echo "== $mode"
    python3 scripts/v8-layouts/check_walker.py "$object" "$node" "$seconds" "$mode" | grep -E "^(samples of|bpf run|counters)"
done
