#!/usr/bin/env bash
# Does tandem see what perf sees? The demo workload runs under
# `perf record -F 99 -g` while tandem (sampler as root, aggregator as the user
# tandem, over the socket) profiles the whole machine at 99 Hz: the same run,
# sampled by both at once. The leaf-function distributions of the workload's
# samples (tandem: its comm in stacks.folded; perf: `perf script`) are compared
# by total variation distance, TVD = 1/2 * sum over functions of |p - q|.
#
# usage: bench/fidelity-vs-perf.sh [SECONDS] [MODES...]   (default: 30 cpu mixed)
# Not a test: run as root; prints a table per mode and the TVD.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30}
MODES=(cpu mixed)
if [ $# -gt 1 ]; then shift; MODES=("$@"); fi

[ "$(id -u)" -eq 0 ] || { echo "fidelity-vs-perf: run as root (loads BPF)" >&2; exit 1; }
command -v perf >/dev/null || { echo "fidelity-vs-perf: needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
export PATH="/opt/swift/usr/bin:$PATH"
echo "building release binaries..." >&2
. scripts/release-binaries.sh
tandem_build_release >/dev/null
BIN=$TANDEM_BIN
tandem_ensure_user

WORK=$(mktemp -d /tmp/tandem-fidelity.XXXXXX)
chmod 0755 "$WORK"
chown tandem: "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
./demo/build.sh "$WORK/demo" >/dev/null
chmod -R a+rX "$WORK/demo"
wait_for() { for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done; echo "fidelity-vs-perf: timed out: $*" >&2; return 1; }

for mode in "${MODES[@]}"; do
    dir=$WORK/$mode
    mkdir -p "$dir"; chown tandem: "$dir"
    # A copy named for the mode: its comm tells its samples apart in the folded stacks.
    name=fidelity-$mode
    cp "$WORK/demo/tandem-demo" "$WORK/demo/$name"

    setpriv --reuid=tandem --regid=tandem --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \
        "$BIN/tandem-aggregator" serve --socket "$dir/tandem.sock" --socket-mode 0660 --output-dir "$dir" \
        --log-level info 2>"$dir/aggregator.log" &
    aggregator=$!; PIDS=("$aggregator")
    wait_for test -S "$dir/tandem.sock"
    setpriv --groups "$(id -g tandem)" -- "$BIN/tandem-sampler" --socket "$dir/tandem.sock" \
        --samples-per-second 99 --log-level info 2>"$dir/sampler.log" &
    sampler=$!; PIDS+=("$sampler")
    wait_for grep -qs "stream started" "$dir/sampler.log"
    sleep 3  # past the start-of-stream snapshot, so that tandem sees the whole run

    echo "$mode: ${DURATION} s under perf record -F 99 -g and tandem at 99 Hz..." >&2
    perf record -F 99 -g -o "$dir/perf.data" -q -- "$WORK/demo/$name" "$mode" "$DURATION" 2>"$dir/perf.log"
    sleep 1  # the sampler drains its ring buffer every 100 ms

    kill -TERM "$sampler"; wait "$sampler" || true
    wait_for grep -q "closed by the sampler" "$dir/aggregator.log"
    kill -TERM "$aggregator"; wait "$aggregator"
    PIDS=()
    perf script -i "$dir/perf.data" -F comm,tid,ip,sym 2>/dev/null >"$dir/perf.txt"

    python3 - "$mode" "$name" "$dir/stacks.folded" "$dir/perf.txt" <<'PY'
import collections, random, sys
mode, comm, folded, perf_text = sys.argv[1:]
def name(symbol):
    return "[unknown]" if (not symbol or "+0x" in symbol or symbol == "[unknown]") else symbol
tandem = collections.Counter()
for line in open(folded):
    stack, count = line.rstrip("\n").rsplit(" ", 1)
    frames = stack.split(";")
    if frames[0] == comm[:15]:
        tandem[name(frames[-1])] += int(count)
perf = collections.Counter()
leaf_next = False
for line in open(perf_text):
    if not line.strip():
        leaf_next = False
        continue
    if not line.startswith(("\t", " ")):
        leaf_next = line.split()[0] == comm[:15]
        continue
    if leaf_next:
        parts = line.split(None, 1)
        perf[name(parts[1].strip() if len(parts) > 1 else "")] += 1
        leaf_next = False
nt, np_ = sum(tandem.values()), sum(perf.values())
functions = set(tandem) | set(perf)
def tvd(a, b, keys):
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[f] / na - b[f] / nb) for f in keys)
def grouped(counter, major):
    result = collections.Counter()
    for f, n in counter.items():
        result[f if f in major else "(other)"] += n
    return result
# Hundreds of kernel functions with a handful of samples each make the plain TVD mostly
# sampling noise. Two more figures: the TVD with functions under 0.5% in both pooled
# into one "(other)", and the TVD two samples of these sizes drawn from ONE distribution
# (the pooled samples) show on average (200 draws): the noise floor.
major = {f for f in functions if max(tandem[f] / nt, perf[f] / np_) >= 0.005}
tvd_all = tvd(tandem, perf, functions)
tvd_grouped = tvd(grouped(tandem, major), grouped(perf, major), major | {"(other)"})
random.seed(1)
pooled = list((tandem + perf).elements())
floor = 0
for _ in range(200):
    random.shuffle(pooled)
    floor += tvd(collections.Counter(pooled[:nt]), collections.Counter(pooled[nt:nt + np_]), functions)
floor /= 200
print(f"\n### {mode}: {nt} tandem samples, {np_} perf samples\n")
print(f"TVD over all {len(functions)} leaf functions: **{100 * tvd_all:.2f}%** "
      f"(sampling noise alone, same sizes: {100 * floor:.2f}%); "
      f"functions under 0.5% pooled ({len(major)} kept): **{100 * tvd_grouped:.2f}%**\n")
print("| leaf function | tandem | perf | difference |")
print("|---|---:|---:|---:|")
top = sorted(functions, key=lambda f: -(tandem[f] / nt + perf[f] / np_))
shown = 0
for f in top[:12]:
    p, q = 100 * tandem[f] / nt, 100 * perf[f] / np_
    print(f"| `{f}` | {p:.2f}% | {q:.2f}% | {p - q:+.2f} |")
rest_t = 100 * sum(tandem[f] for f in top[12:]) / nt
rest_p = 100 * sum(perf[f] for f in top[12:]) / np_
if len(top) > 12:
    print(f"| ({len(top) - 12} other functions) | {rest_t:.2f}% | {rest_p:.2f}% | {rest_t - rest_p:+.2f} |")
PY
done
