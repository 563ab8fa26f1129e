#!/usr/bin/env bash
# The floor under the sampler's idle cost: the CPU time of a process that does nothing but
# wake up from poll(2) every INTERVAL ms, with both CPUs kept busy by two spin loops (as
# bench/sampler-cpu-ab.sh). Its schedstat over SECONDS, per interval, interleaved for ROUNDS.
# Prints the time per second and per wake-up. With SEND_BYTES=N, each wake-up also sends N
# bytes over a Unix socket to a reader (a child that only reads), as the sampler's drain sends
# its samples to the aggregator. With READER_MS=M as well, the reader does not wait in
# read(2) but wakes on its own every M ms and reads what came, so no send has a waiter to
# wake: what is left of the send's cost is the send itself. Not a test.
#
#   [SEND_BYTES=N [READER_MS=M]] bench/wake-up-cost.sh [SECONDS] [ROUNDS] [INTERVALS_MS...]   (default 20 2 250 750 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
rounds=${2:-2}
intervals=(250 750 1000)
if [ $# -gt 2 ]; then shift 2; intervals=("$@"); fi
work=$(mktemp -d /tmp/tandem-wake-up.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cc -O1 -fno-omit-frame-pointer -o "$work/spin" Tests/Workloads/spin.c
cat > "$work/waker.c" <<'C'
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>
int main(int c, char **v) {
    int ms = atoi(v[1]), bytes = atoi(v[2]), readerMs = atoi(v[3]);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 1;
    if (bytes > 0 && fork() == 0) {
        char sink[65536];
        close(pair[0]);
        if (readerMs <= 0) {
            while (read(pair[1], sink, sizeof sink) > 0) {}
            return 0;
        }
        fcntl(pair[1], F_SETFL, O_NONBLOCK);
        for (;;) {
            poll(0, 0, readerMs);
            ssize_t n;
            while ((n = read(pair[1], sink, sizeof sink)) > 0) {}
            if (n == 0) return 0;  /* the waker is gone */
        }
    }
    static char message[65536];
    memset(message, 1, sizeof message);
    for (;;) {
        poll(0, 0, ms);
        if (bytes > 0) send(pair[0], message, bytes > 65536 ? 65536 : bytes, MSG_DONTWAIT);
    }
}
C
cc -O2 -o "$work/waker" "$work/waker.c"
for _ in 1 2; do "$work/spin" 100000 & pids+=($!); done

echo "| round | interval | CPU per second | per wake-up |"
echo "|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
    for ms in "${intervals[@]}"; do
        "$work/waker" "$ms" "${SEND_BYTES:-0}" "${READER_MS:-0}" & waker=$!
        sleep 2
        a=$(cut -d' ' -f1 /proc/$waker/schedstat); t0=$(date +%s%N)
        sleep "$seconds"
        b=$(cut -d' ' -f1 /proc/$waker/schedstat); t1=$(date +%s%N)
        kill "$waker"; wait "$waker" 2>/dev/null || true
        awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" -v ms="$ms" -v r="$round" 'BEGIN {
            wall = (t1 - t0) / 1e9; wakes = wall * 1000 / ms
            printf "| %d | %d ms | %.1f µs (%.4f %%) | %.1f µs |\n", r, ms, (b - a) / 1e3 / wall, (b - a) / wall / 1e7, (b - a) / 1e3 / wakes }'
    done
done
