# Sourced by the benchmarks that run tandem beside a workload (bench/jvm-walker-cost.sh,
# bench/jfr-compare.sh, bench/node-cpu-prof-compare.sh): the release daemons run as
# scripts/run.sh runs them, the aggregator as the unprivileged user `tandem` (setpriv, no
# capabilities), the sampler as root, and what their BPF programs cost is read from bpftool.
#
# The sourcing script sets NAME (its name, for messages), WORK (a directory) and HZ, and may
# set BIN (a directory with both release binaries; built if unset).

die() { echo "$NAME: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (loads BPF, runs the aggregator as the user tandem)"
for tool in bpftool python3 setpriv; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install -y bpftool python3 util-linux)"
done
. scripts/release-binaries.sh
if [ -z "${BIN:-}" ]; then
    tandem_build_release >/dev/null
    BIN=$TANDEM_BIN
fi
[ -x "$BIN/tandem-sampler" ] && [ -x "$BIN/tandem-aggregator" ] || die "no tandem-sampler / tandem-aggregator in $BIN"
tandem_ensure_user
mkdir -p "$WORK"
chown tandem: "$WORK"
chmod 0750 "$WORK"

AGGREGATOR_PID=""
SAMPLER_PID=""
STATS_PID=""
WORKLOAD_PIDS=()
tandem_session_cleanup() {
    if [ -n "$STATS_PID" ]; then kill -TERM "$STATS_PID" 2>/dev/null || true; fi
    for pid in "${WORKLOAD_PIDS[@]:-}"; do
        if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    if [ -n "$SAMPLER_PID" ]; then kill -INT "$SAMPLER_PID" 2>/dev/null || true; fi
    if [ -n "$AGGREGATOR_PID" ]; then kill -TERM "$AGGREGATOR_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
}
trap tandem_session_cleanup EXIT
trap 'exit 130' INT TERM

# start_tandem RUN [SAMPLER FLAGS...]: the aggregator with its outputs in WORK/RUN/out and its
# captures (the raw stream, for `tandem-aggregator inspect`) in WORK/RUN/captures, then the
# sampler at HZ; returns once it samples.
start_tandem() {
    local run=$WORK/$1; shift
    mkdir -p "$run/out" "$run/captures"
    chown -R tandem: "$run"
    setpriv --reuid=tandem --regid=tandem --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \
        "$BIN/tandem-aggregator" serve --socket "$run/a.sock" --socket-mode 0660 --output-dir "$run/out" \
        --capture "$run/captures" --log-level notice 2>"$run/aggregator.log" &
    AGGREGATOR_PID=$!
    for _ in $(seq 100); do
        [ -S "$run/a.sock" ] && break
        kill -0 "$AGGREGATOR_PID" 2>/dev/null || { cat "$run/aggregator.log" >&2; die "the aggregator exited"; }
        sleep 0.1
    done
    [ -S "$run/a.sock" ] || die "the aggregator did not create $run/a.sock (log: $run/aggregator.log)"
    setpriv --groups "$(id -g tandem)" -- "$BIN/tandem-sampler" --socket "$run/a.sock" --samples-per-second "$HZ" \
        --log-level info "$@" >"$run/sampler.log" 2>&1 &
    SAMPLER_PID=$!
    for _ in $(seq 300); do
        grep -q 'sampling' "$run/sampler.log" 2>/dev/null && return 0
        kill -0 "$SAMPLER_PID" 2>/dev/null || { cat "$run/sampler.log" >&2; die "the sampler exited"; }
        sleep 0.1
    done
    die "the sampler did not start sampling in 30 s (log: $run/sampler.log)"
}

# stop_tandem RUN: the sampler, then the aggregator, which writes its outputs as it exits.
stop_tandem() {
    local run=$WORK/$1
    kill -INT "$SAMPLER_PID"
    wait "$SAMPLER_PID" || { cat "$run/sampler.log" >&2; die "the sampler failed"; }
    SAMPLER_PID=""
    kill -TERM "$AGGREGATOR_PID"
    wait "$AGGREGATOR_PID" || { cat "$run/aggregator.log" >&2; die "the aggregator failed"; }
    AGGREGATOR_PID=""
}

# wait_for_line LOG TEXT SECONDS PID: until LOG holds TEXT; fails if PID exits first.
wait_for_line() {
    local log=$1 text=$2 seconds=$3 pid=$4
    for _ in $(seq $((seconds * 10))); do
        grep -q "$text" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "pid $pid exited before printing '$text'"; }
        sleep 0.1
    done
    die "no '$text' in $log after $seconds s"
}

# CPU seconds of PID so far, all threads (scheduler run time, as bench/sampler-overhead.sh).
cpu_seconds() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'; }

# bpf_stats PID [COUNTER...]: one line `name=run_time_ns/run_cnt ...` for each tandem_*
# program the sampler PID holds open (prog_id in /proc/PID/fdinfo: other samplers on the host
# do not count) or holds in one of its program arrays (the interpreter walkers it tail-calls),
# then `counter:N=value` for each COUNTER index of
# its `counters` map. run_time_ns counts only while statistics are on (hold_bpf_stats).
bpf_stats() {
    local pid=$1; shift
    local progs maps
    progs=$(grep -h '^prog_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
    maps=$(grep -h '^map_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
    python3 - "$progs" "$maps" "$@" <<'PY'
import json, subprocess, sys
def bpftool(*args):
    return json.loads(subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True).stdout)
def number(value):
    if isinstance(value, list):  # no BTF: little-endian hex bytes
        return int.from_bytes(bytes(int(b, 16) for b in value), "little")
    return int(value)
progs = {int(i) for i in sys.argv[1].split()}
maps = {int(i) for i in sys.argv[2].split()}
wanted = [int(c) for c in sys.argv[3:]]
all_maps = [m for m in bpftool("map", "show") if m.get("id") in maps]
for m in all_maps:
    if m.get("type") == "prog_array":
        for entry in bpftool("map", "dump", "id", str(m["id"])):
            if "value" in entry:
                progs.add(number(entry["value"]))
fields = []
totals = {}
for p in bpftool("prog", "show"):
    name = p.get("name", "")
    if p.get("id") in progs and name.startswith("tandem_"):
        ns, runs = totals.get(name, (0, 0))
        totals[name] = (ns + p.get("run_time_ns", 0), runs + p.get("run_cnt", 0))
if "tandem_sample" not in totals:
    sys.exit("bpf_stats: no tandem_sample program held by the sampler")
fields += [f"{name}={ns}/{runs}" for name, (ns, runs) in sorted(totals.items())]
counters = {c: 0 for c in wanted}
if wanted:
    for m in all_maps:
        if m.get("name") != "counters":
            continue
        for entry in bpftool("map", "dump", "id", str(m["id"])):
            key, value = number(entry.get("key")), number(entry.get("value"))
            if key in counters:
                counters[key] += value
fields += [f"counter:{c}={v}" for c, v in counters.items()]
print(" ".join(fields))
PY
}

# hold_bpf_stats: BPF run-time statistics on until this script exits, through a file
# descriptor of BPF_ENABLE_STATS held by a child. Unlike kernel.bpf_stats_enabled, which
# anyone may switch off (another benchmark's clean-up), the kernel counts such holders, and
# the sysctl is left as it was for everyone else.
hold_bpf_stats() {
    [ -z "$STATS_PID" ] || return 0
    python3 -c '
import ctypes, os, signal, struct, sys
BPF, ENABLE_STATS, STATS_RUN_TIME = 321, 32, 0  # x86_64 __NR_bpf; linux/bpf.h
libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(struct.pack("I", STATS_RUN_TIME), 128)
fd = libc.syscall(BPF, ENABLE_STATS, attr, 4)
if fd < 0:
    sys.exit(f"BPF_ENABLE_STATS: {os.strerror(ctypes.get_errno())}")
print("on", flush=True)
signal.pause()
' >"$WORK/bpf-stats.log" 2>&1 &
    STATS_PID=$!
    wait_for_line "$WORK/bpf-stats.log" on 10 "$STATS_PID"
}
