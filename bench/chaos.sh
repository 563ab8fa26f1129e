#!/usr/bin/env bash
# Chaos run of tandem (issue 10, "Nothing lost, nothing stalls"): hostile cases against
# the RELEASE binaries of both daemons, each bounded in time, each with its own
# aggregator (as the unprivileged user `tandem`, as scripts/run.sh starts it) and, where
# the case needs one, its own sampler (root), socket and output directories under one
# temporary directory. Prints one row per case: peak RSS, threads and descriptors of the
# aggregator / sampler (sampled from /proc every 0.2 s), and samples collected by the
# sampler's BPF program, sent into the stream, received by the aggregator, and counted
# as dropped (by the sampler: its exit line's drops; by the aggregator: samples of
# unfinished streams and at its bounds, from its `done:` line); each exporter's
# sent/retried/dropped/rejected; and a verdict. A case is OK when every sample is received
# or counted as dropped, every process stopped as it should, and the peaks stayed in bounds.
# Exits 1 if any case failed. As root:
#
#   bash bench/chaos.sh [BIN_DIR]          (default: builds release binaries here)
#
#   CHAOS_BIN=DIR                 tandem-sampler and tandem-aggregator to test (or $1)
#   CHAOS_SECONDS=20              length of each case's sampling / flood
#   CHAOS_CASES="baseline idle-conns"  run only these cases (default: all, in the order below)
#   CHAOS_STOP_TIMEOUT=20         seconds a daemon gets to exit after SIGTERM
#   CHAOS_MAX_RSS_MIB=1536  CHAOS_MAX_FLOOD_RSS_MIB=256  CHAOS_MAX_THREADS=64
#   CHAOS_MAX_FDS=256  CHAOS_MAX_LOG_BYTES=1048576
#                                 the bounds of the verdict (peak RSS with a live sampler,
#                                 which symbolizes the whole machine; peak RSS against a
#                                 hostile stream alone; threads; descriptors; log size)
#   CHAOS_PIDS=1048576            distinct pids of the flood-pids case
#   CHAOS_KEEP=1                  keep the temporary directory (logs, captures) and print it
#   CHAOS_TABLE=FILE              also write the result table (markdown) to FILE
#
# Cases: baseline fifo-exe fifo-perf-map fifo-debug idle-conns refused-flood exp-hang exp-500 exp-429 exp-huge-body
#        flood-pids flood-ksyms flood-mappings kill9-aggregator kill9-sampler sigterm-otlp
# (docs/benchmarks.md, "Chaos run", describes each.) Helpers: bench/chaos/chaostool.py
# (Python 3 standard library), bench/chaos/workload.c. Not part of `make test`: it takes
# about 10 minutes.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PATH="/opt/swift/usr/bin:$PATH"

seconds=${CHAOS_SECONDS:-20}
stop_timeout=${CHAOS_STOP_TIMEOUT:-20}
max_rss=${CHAOS_MAX_RSS_MIB:-1536}
max_flood_rss=${CHAOS_MAX_FLOOD_RSS_MIB:-256}
max_threads=${CHAOS_MAX_THREADS:-64}
max_fds=${CHAOS_MAX_FDS:-256}
max_log=${CHAOS_MAX_LOG_BYTES:-1048576}
flood_pids=${CHAOS_PIDS:-1048576}
all_cases="baseline fifo-exe fifo-perf-map fifo-debug idle-conns refused-flood exp-hang exp-500 exp-429 exp-huge-body flood-pids flood-ksyms flood-mappings kill9-aggregator kill9-sampler sigterm-otlp"
cases=${CHAOS_CASES:-$all_cases}
frequency=99
user=tandem

die() { echo "chaos: $*" >&2; exit 2; }
say() { printf '%s chaos: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root: the sampler loads BPF and the aggregator runs as user '$user'; run: sudo bash bench/chaos.sh"
case "$seconds" in ''|*[!0-9]*) die "CHAOS_SECONDS must be a whole number of seconds, not '$seconds'";; esac
[ "$seconds" -ge 4 ] || die "CHAOS_SECONDS must be at least 4"
for c in $cases; do
    case " $all_cases " in *" $c "*) ;; *) die "unknown case '$c' in CHAOS_CASES; cases are: $all_cases";; esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || die "python3 is missing; run: make deps"
command -v setpriv >/dev/null || die "setpriv is missing (util-linux); run: make deps"
command -v cc >/dev/null || die "a C compiler is missing; run: make deps"

# shellcheck source=scripts/release-binaries.sh
. scripts/release-binaries.sh
bin=${1:-${CHAOS_BIN:-}}
if [ -z "$bin" ]; then
    say "building release binaries (swift build -c release)"
    tandem_build_release >&2 || die "the release build failed"
    bin=$TANDEM_BIN
fi
for tool in tandem-sampler tandem-aggregator; do
    [ -x "$bin/$tool" ] || die "$bin/$tool is missing; give the directory of the release binaries (CHAOS_BIN=DIR or the first argument)"
done
tandem_ensure_user
group=$(id -g "$user")

top=$(mktemp -d /tmp/tandem-chaos.XXXXXX)
chmod 0755 "$top"
cp bench/chaos/chaostool.py "$top/chaostool.py"
chmod 0755 "$top/chaostool.py"
tool=$top/chaostool.py
cc -O1 -fno-omit-frame-pointer -o "$top/workload" bench/chaos/workload.c || die "cannot build bench/chaos/workload.c"

# Everything a case starts or plants is recorded here, so that cleanup undoes it
# even when the script fails or is interrupted.
started_pids=()
mounts=()
planted=()
# Kills what this script started and is still running: a pid counts only while it is
# still this shell's child, so a pid reused by someone else's process is left alone.
kill_started() {
    local pid
    for pid in "${started_pids[@]}"; do
        [ "$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)" = "$$" ] && kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    started_pids=()
}
undo_plants() {
    local path
    for path in "${mounts[@]}"; do
        umount -l "$path" 2>/dev/null
    done
    mounts=()
    for path in "${planted[@]}"; do
        rm -rf -- "$path" 2>/dev/null
    done
    planted=()
}
cleanup() {
    { kill_started; } 2>/dev/null
    undo_plants
    if [ "${CHAOS_KEEP:-0}" = 1 ]; then
        echo "chaos: logs and captures kept in $top" >&2
    else
        rm -rf -- "$top"
    fi
}
trap cleanup EXIT
trap 'echo "chaos: interrupted" >&2; exit 130' INT TERM

# ------------------------------------------------------------------ helpers

running() {  # PID: alive and not a zombie
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# A case's directory: outputs, socket, logs, the monitor's pid files.
new_case() {
    case_name=$1
    dir=$top/$case_name
    mkdir -p "$dir/mon" "$dir/run"
    chown "$user:" "$dir/run"
    chmod 0750 "$dir/run"
    socket=$dir/run/tandem.sock
    rss_limit=$max_rss
    aggregator_count=0
    sampler_count=0
    agg_pid=""
    smp_pid=""
    "$python" "$tool" monitor "$dir/mon" "$dir/mon/peaks.json" --interval 0.2 --limit 900 &
    monitor_pid=$!
    started_pids+=("$monitor_pid")
    say "case $case_name"
}

check() { echo "$*" >>"$dir/checks"; }   # "FAIL reason" or "NOTE text"

# start_aggregator [--capture] [serve options...]: sets agg_pid and agg_n.
start_aggregator() {
    local capture=()
    aggregator_count=$((aggregator_count + 1))
    agg_n=$aggregator_count
    if [ "${1:-}" = --capture ]; then
        shift
        mkdir -p "$dir/cap.$agg_n"
        chown "$user:" "$dir/cap.$agg_n"
        capture=(--capture "$dir/cap.$agg_n")
    fi
    mkdir -p "$dir/out.$agg_n"
    chown "$user:" "$dir/out.$agg_n"
    setpriv --reuid="$user" --regid="$user" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \
        "$bin/tandem-aggregator" serve --socket "$socket" --output-dir "$dir/out.$agg_n" --log-level info \
        "${capture[@]}" "$@" 2>"$dir/aggregator.$agg_n.log" &
    agg_pid=$!
    started_pids+=("$agg_pid")
    echo "$agg_pid" >"$dir/mon/aggregator.$agg_n.pid"
    local _
    for _ in $(seq 200); do
        grep -q "listening on" "$dir/aggregator.$agg_n.log" 2>/dev/null && return 0
        running "$agg_pid" || break
        sleep 0.1
    done
    check "FAIL aggregator $agg_n did not start listening: $(tail -n 2 "$dir/aggregator.$agg_n.log" | tr '\n' ' ')"
    return 1
}

# start_sampler [sampler options...]: sets smp_pid and smp_n.
start_sampler() {
    sampler_count=$((sampler_count + 1))
    smp_n=$sampler_count
    # As scripts/run.sh: the sampler drops CAP_DAC_OVERRIDE after start-up and reaches
    # the socket (mode 0660, group tandem) as a member of the aggregator's group.
    setpriv --groups "$group" -- "$bin/tandem-sampler" --socket "$socket" --samples-per-second "$frequency" \
        --log-level info "$@" 2>"$dir/sampler.$smp_n.log" &
    smp_pid=$!
    started_pids+=("$smp_pid")
    echo "$smp_pid" >"$dir/mon/sampler.$smp_n.pid"
}

# Waits until the sampler's stream started (its set-up reads /proc and kallsyms first).
wait_streaming() {
    local _
    for _ in $(seq 600); do
        grep -q "stream started" "$dir/sampler.$smp_n.log" 2>/dev/null && return 0
        running "$smp_pid" || break
        sleep 0.1
    done
    check "NOTE sampler $smp_n had not connected after 60 s"
}

# record_status ROLE N PID EXPECTED HOW: waits for an exited process and writes its status file.
record_status() {
    local role=$1 n=$2 pid=$3 expected=$4 how=$5 code
    wait "$pid" 2>/dev/null
    code=$?
    {
        echo "pid=$pid"
        echo "status=$code"
        echo "expected=$expected"
        echo "how=$how"
    } >"$dir/$role.$n.status"
}

# stop ROLE N PID: SIGTERM, then up to CHAOS_STOP_TIMEOUT s to exit, else SIGKILL.
stop_process() {
    local role=$1 n=$2 pid=$3 start end i
    start=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < stop_timeout * 10; i++)); do
        running "$pid" || break
        sleep 0.1
    done
    end=$(date +%s.%N)
    if running "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        record_status "$role" "$n" "$pid" 0 "SIGTERM, then SIGKILL after $stop_timeout s"
        echo "timeout=1" >>"$dir/$role.$n.status"
    else
        record_status "$role" "$n" "$pid" 0 "SIGTERM"
    fi
    echo "stop_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')" >>"$dir/$role.$n.status"
}

kill9() {  # ROLE N PID
    kill -KILL "$3" 2>/dev/null
    record_status "$1" "$2" "$3" 137 "kill -9"
}

# Waits up to SECONDS for a sampler started with --duration to end by itself.
wait_sampler() {
    local pid=$1 n=$2 limit=$3 i
    for ((i = 0; i < limit * 10; i++)); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        check "FAIL sampler $n still running $limit s after its --duration ended"
        stop_process sampler "$n" "$pid"
    else
        record_status sampler "$n" "$pid" 0 "--duration"
    fi
}

thread_waits() {  # PID: the kernel functions its threads sleep in, counted
    local f
    for f in /proc/"$1"/task/*/wchan; do
        cat "$f" 2>/dev/null
        echo
    done | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'
}

workload() {  # MODE SECONDS [PATH]: a CPU-bound process, recorded for cleanup
    local program=${3:-$top/workload}
    "$program" "$1" "$2" >/dev/null 2>&1 &
    work_pid=$!
    started_pids+=("$work_pid")
}

end_case() {
    touch "$dir/mon/stop"
    wait "$monitor_pid" 2>/dev/null
    local row
    row=$("$python" "$tool" account "$dir" --max-rss-mib "$rss_limit" --max-threads "$max_threads" \
        --max-fds "$max_fds" --max-log-bytes "$max_log")
    echo "$row" >>"$top/rows.jsonl"
    "$python" "$tool" table "$top/rows.jsonl" --last >&2
}

# A configuration with an OTLP/HTTP exporter to 127.0.0.1:PORT and 1 s metric windows.
otlp_config() {  # PORT FILE
    cat >"$2" <<EOF
receivers:
  profiling:
    samples_per_second: $frequency
    allowed_uids: [0]
connectors:
  profilingmetrics:
    flush_interval: 1s
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$1
    timeout: 5s
service:
  pipelines:
    profiles:
      receivers: [profiling]
      exporters: [profilingmetrics]
    metrics:
      receivers: [profilingmetrics]
      exporters: [otlphttp]
EOF
    chmod 0644 "$2"
}

start_stub() {  # MODE: sets stub_pid and port
    rm -f "$dir/stub.port"
    "$python" "$tool" stub "$1" "$dir/stub.port" "$dir/stub.json" --seconds $((seconds * 3 + 60)) &
    stub_pid=$!
    started_pids+=("$stub_pid")
    local _
    for _ in $(seq 100); do
        [ -s "$dir/stub.port" ] && break
        sleep 0.1
    done
    port=$(cat "$dir/stub.port" 2>/dev/null) || die "the OTLP stub did not start"
}

stop_stub() {
    kill -TERM "$stub_pid" 2>/dev/null
    wait "$stub_pid" 2>/dev/null
    check "NOTE stub: $(cat "$dir/stub.json" 2>/dev/null)"
}

exporter_notes() {  # what the exporter logged about data it could not deliver
    local log=$dir/aggregator.$1.log
    check "NOTE exporter log lines: $(grep -c 'export failed; retrying' "$log") retrying, $(grep -c 'dropping' "$log") dropping, $(grep -c 'refused' "$log") refused"
}

# ------------------------------------------------------------------ cases

case_baseline() {
    new_case baseline
    start_aggregator --capture || { end_case; return; }
    workload spin $((seconds + 30))
    start_sampler --duration "$seconds"
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    stop_process aggregator "$agg_n" "$agg_pid"
    end_case
}

case_fifo() {  # exe | perf-map | debug
    new_case "fifo-$1"
    start_aggregator --capture || { end_case; return; }
    local work=$dir/work build_id debug_path
    mkdir -p "$work"
    chmod 0755 "$dir" "$work"
    case $1 in
    exe)
        # A FIFO mounted over a running program's executable: the path the kernel
        # shows in /proc/PID/maps now opens a FIFO.
        cp "$top/workload" "$work/mapped"
        workload spin $((seconds + 30)) "$work/mapped"
        # Mount only once the program runs: exec of the path must still find the program.
        local _
        for _ in $(seq 100); do
            [ "$(readlink "/proc/$work_pid/exe" 2>/dev/null)" = "$work/mapped" ] && break
            sleep 0.05
        done
        mkfifo -m 0666 "$work/fifo-exe"
        if mount --bind "$work/fifo-exe" "$work/mapped" 2>"$dir/mount.err"; then
            mounts+=("$work/mapped")
        else
            check "FAIL cannot bind-mount a FIFO over the mapped path: $(cat "$dir/mount.err")"
        fi
        ;;
    perf-map)
        # /tmp/perf-PID.map of a process whose leaf runs in anonymous executable memory.
        workload jit $((seconds + 30))
        planted+=("/tmp/perf-$work_pid.map")
        mkfifo -m 0666 "/tmp/perf-$work_pid.map"
        ;;
    debug)
        # The build-id debug file of a stripped program.
        cp "$top/workload" "$work/stripped"
        strip --strip-all "$work/stripped"
        build_id=$(readelf -n "$work/stripped" 2>/dev/null | awk '/Build ID/ { print $3 }')
        if [ -n "$build_id" ]; then
            debug_path=/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug
            if [ ! -d /usr/lib/debug/.build-id ]; then
                mkdir -p /usr/lib/debug/.build-id
                planted+=(/usr/lib/debug/.build-id)
            fi
            if [ ! -d "/usr/lib/debug/.build-id/${build_id:0:2}" ]; then
                mkdir -p "/usr/lib/debug/.build-id/${build_id:0:2}"
                planted+=("/usr/lib/debug/.build-id/${build_id:0:2}")
            fi
            planted+=("$debug_path")
            mkfifo -m 0666 "$debug_path"
            workload spin $((seconds + 30)) "$work/stripped"
        else
            check "FAIL the workload has no build id (readelf -n); cannot plant its debug file"
        fi
        ;;
    esac
    start_sampler --duration "$seconds"
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    running "$work_pid" || check "FAIL the workload behind the FIFO was not running: the case did not test anything"
    # Where the aggregator's threads wait (a FIFO open blocks in fifo_open/wait_for_partner).
    check "NOTE aggregator threads wait in: $(thread_waits "$agg_pid")"
    stop_process aggregator "$agg_n" "$agg_pid"
    end_case
}

case_idle_conns() {
    new_case idle-conns
    start_aggregator --capture || { end_case; return; }
    # 1,000 connections from root (an allowed uid) that never send a byte, held
    # through the sampler's run and the aggregator's shutdown.
    "$python" "$tool" idle "$socket" 1000 "$dir/idle.json" --seconds $((seconds + 15)) &
    local idle_pid=$!
    started_pids+=("$idle_pid")
    sleep 3
    workload spin $((seconds + 30))
    start_sampler --duration "$seconds"
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    # Counted is not enough: nothing may stall the sampler's stream itself.
    local sent log=$dir/sampler.$smp_n.log
    sent=$(grep -o 'samples_sent=[0-9]*' "$log" | tail -n 1 | cut -d= -f2)
    if [ "${sent:-0}" = 0 ]; then
        check "FAIL the sampler delivered no sample: the idle connections held the aggregator's connection slots through its whole run ($(grep -c 'stream started' "$log") streams started, each ended at once: $(grep -o 'error=[^[]*' "$log" | sort | uniq -c | sort -rn | head -n 1 | sed 's/^ *//'))"
    fi
    stop_process aggregator "$agg_n" "$agg_pid"
    wait "$idle_pid" 2>/dev/null
    check "NOTE idle client: $(cat "$dir/idle.json" 2>/dev/null)"
    end_case
}

case_refused_flood() {
    new_case refused-flood
    chmod 0755 "$dir/run"
    start_aggregator --capture --socket-mode 0666 || { end_case; return; }
    # Connections from uid 65534, which allowed_uids [0] refuses, as fast as they go.
    mkdir -p "$dir/nobody"
    chown 65534:65534 "$dir/nobody"
    setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        "$python" "$tool" flood "$socket" "$dir/nobody/flood.json" --seconds "$seconds" --count 1000000 &
    local flood_pid=$!
    started_pids+=("$flood_pid")
    workload spin $((seconds + 30))
    start_sampler --duration "$seconds"
    wait "$flood_pid" 2>/dev/null
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    stop_process aggregator "$agg_n" "$agg_pid"
    check "NOTE flood: $(cat "$dir/nobody/flood.json" 2>/dev/null); aggregator log $(wc -l <"$dir/aggregator.1.log") lines, $(grep -c 'refused connection' "$dir/aggregator.1.log") of them refusals"
    end_case
}

case_exporter() {  # MODE CASE
    new_case "$2"
    start_stub "$1"
    otlp_config "$port" "$dir/config.yml"
    start_aggregator --capture --config "$dir/config.yml" || { stop_stub; end_case; return; }
    workload spin $((seconds + 30))
    start_sampler --duration "$seconds"
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    stop_process aggregator "$agg_n" "$agg_pid"
    exporter_notes "$agg_n"
    stop_stub
    end_case
}

case_flood() {  # MODE
    new_case "flood-$1"
    rss_limit=$max_flood_rss
    start_aggregator || { end_case; return; }
    local count=0
    [ "$1" = pids ] && count=$flood_pids
    "$python" "$tool" stream "$socket" "$1" "$dir/client.json" --seconds "$seconds" --count "$count"
    sleep 2
    stop_process aggregator "$agg_n" "$agg_pid"
    end_case
}

case_kill9_aggregator() {
    new_case kill9-aggregator
    start_aggregator --capture || { end_case; return; }
    workload spin $((seconds * 2 + 30))
    start_sampler
    wait_streaming
    local first=$agg_pid first_n=$agg_n
    sleep $((seconds / 2))
    kill9 aggregator "$first_n" "$first"
    sleep 1
    start_aggregator --capture
    sleep $((seconds / 2))
    stop_process sampler "$smp_n" "$smp_pid"
    stop_process aggregator "$agg_n" "$agg_pid"
    end_case
}

case_kill9_sampler() {
    new_case kill9-sampler
    start_aggregator --capture || { end_case; return; }
    workload spin $((seconds * 2 + 30))
    start_sampler
    wait_streaming
    sleep $((seconds / 2))
    kill9 sampler "$smp_n" "$smp_pid"
    start_sampler --duration $((seconds / 2))
    wait_sampler "$smp_pid" "$smp_n" $((seconds + 60))
    stop_process aggregator "$agg_n" "$agg_pid"
    end_case
}

case_sigterm_otlp() {
    new_case sigterm-otlp
    start_stub ok
    otlp_config "$port" "$dir/config.yml"
    start_aggregator --capture --config "$dir/config.yml" || { stop_stub; end_case; return; }
    workload spin $((seconds + 30))
    start_sampler
    wait_streaming
    sleep "$seconds"
    # The aggregator stops first, while the sampler still streams (as `systemctl stop
    # tandem-aggregator` would): what was in flight must be received or counted.
    stop_process aggregator "$agg_n" "$agg_pid"
    sleep 2
    stop_process sampler "$smp_n" "$smp_pid"
    exporter_notes "$agg_n"
    stop_stub
    end_case
}

say "binaries: $bin; ${seconds} s per case; temporary directory $top"
for c in $cases; do
    case $c in
        baseline) case_baseline ;;
        fifo-exe) case_fifo exe ;;
        fifo-perf-map) case_fifo perf-map ;;
        fifo-debug) case_fifo debug ;;
        idle-conns) case_idle_conns ;;
        refused-flood) case_refused_flood ;;
        exp-hang) case_exporter hang "$c" ;;
        exp-500) case_exporter 500 "$c" ;;
        exp-429) case_exporter 429 "$c" ;;
        exp-huge-body) case_exporter huge "$c" ;;
        flood-pids) case_flood pids ;;
        flood-ksyms) case_flood ksyms ;;
        flood-mappings) case_flood mappings ;;
        kill9-aggregator) case_kill9_aggregator ;;
        kill9-sampler) case_kill9_sampler ;;
        sigterm-otlp) case_sigterm_otlp ;;
    esac
    # Nothing a case started or planted may outlive it.
    { kill_started; } 2>/dev/null
    undo_plants
done

echo
"$python" "$tool" table "$top/rows.jsonl" | tee "${CHAOS_TABLE:-/dev/null}"
! grep -q '"verdict": "FAIL"' "$top/rows.jsonl"
