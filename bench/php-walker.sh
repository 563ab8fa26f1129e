#!/usr/bin/env bash
# PHP frames (docs/php.md): what the BPF PHP walker costs per sample, and what it names.
# Runs the known-truth workload (Tests/Workloads/php/known_truth.php: innermost function
# alpha 50 %, Calc::beta 20 %, Gamma::gamma 30 %) under /usr/bin/php8.2 and samples every CPU
# at 997 Hz with tandem's BPF programs (the sampling object and the PHP walker's, compiled from
# bpf/ with clang, the walker loaded into the sampling object's tail-call slot as the sampler
# does) through a small libbpf harness (bench/php-walker/harness.c), DURATION s a run, REPEAT times alternately:
#   php    the workload's process named to the PHP walker (as control record 29 would);
#   native no process named: the same workload's samples are native-only.
# Prints the sampling program's BPF run time per run (kernel.bpf_stats_enabled=1) over all
# samples of the window, the PHP process's samples, and its innermost functions. The extra
# cost of a PHP sample is (php ns/run - native ns/run) x runs / PHP samples.
# Not a test (not run by CI): the numbers depend on the machine and its load. Run as root.
#
# usage: [DURATION=10] [REPEAT=3] bench/php-walker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
PHP=/usr/bin/php8.2
[ "$(id -u)" -eq 0 ] || { echo "php-walker.sh: run as root (loads BPF)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $WORKLOAD 2>/dev/null || true; sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$WORK"' EXIT

for object in sampler php_walker; do
    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -Ibpf \
        -c bpf/$object.bpf.c -o "$WORK/$object.bpf.o"
done
cc -O2 -Wall -Ibpf -o "$WORK/harness" bench/php-walker/harness.c -lbpf
# The layout the sampler writes (Sources/PHPLayouts): the version, then the fields in order.
LAYOUT=$(awk '/version: .init/ { gsub(/[^0-9,]/, ""); split($0, v, ","); printf "0x%02x%02x", v[1], v[2] }
              /^ *[a-zA-Z]+: [0-9]+,?$/ { gsub(/[^0-9]/, ""); printf ",%s", $0 }' Sources/PHPLayouts/PHPLayoutTable.swift)
GLOBALS=$(nm -D --defined-only "$PHP" | awk '$3 == "executor_globals" { print $1 }')

sysctl -q kernel.bpf_stats_enabled=1
"$PHP" -n Tests/Workloads/php/known_truth.php > "$WORK/truth" &
WORKLOAD=$!
sleep 0.5
BASE=$(awk -v php="$PHP" '$6 == php && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' /proc/$WORKLOAD/maps)
ADDRESS=$(printf '%x' $((0x$BASE + 0x$GLOBALS)))
echo "php-walker: $(uptime)"
for run in $(seq "$REPEAT"); do
    for mode in php native; do
        pid=$WORKLOAD; [ $mode = native ] && pid=0
        echo "== run $run $mode: $("$WORK/harness" "$WORK/sampler.bpf.o" "$WORK/php_walker.bpf.o" "$pid" "$ADDRESS" "$DURATION" "$LAYOUT" | tr '\n' ' ')"
    done
done
echo "truth (process CPU ns): $(tail -1 "$WORK/truth")"
