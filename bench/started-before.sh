#!/usr/bin/env bash
# Issue 14's "processes started before the sampler: same figures after 5 s": a known-truth JVM
# (Tests/Workloads/jvm/KnownTruth.java, 2 worker threads, no JVM flags) and a known-truth Node
# process (Tests/Workloads/node/known_truth.js), each run on its own for WARM CPU seconds before
# tandem starts, then sampled for SKIP + WINDOW seconds. The captured stream is replayed with
# `tandem-aggregator replay --skip-seconds SKIP`, so only the samples taken from SKIP seconds
# after the sampler's start count, and bench/runtime-compare.py window prints, for that window:
# the share of the process's samples with Java / JavaScript frames, and the innermost measured
# method's shares beside the truth the workload measured over the same window.
#
# tandem runs as scripts/run.sh runs it (bench/tandem-session.sh): release binaries (built if
# missing), the aggregator as the user `tandem`, 99 Hz. Not a test (not run by CI). Run as root.
#
# usage: [SKIP=5] [WINDOW=15] [WARM=10] [BIN=dir] [WORK=dir] bench/started-before.sh [jvm] [node]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NAME=started-before.sh
SKIP=${SKIP:-5}
WINDOW=${WINDOW:-15}
WARM=${WARM:-10}
HZ=99
JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
WORK=${WORK:-$(mktemp -d /tmp/tandem-started-before.XXXXXX)}
RUNTIMES=("$@")
[ ${#RUNTIMES[@]} -gt 0 ] || RUNTIMES=(jvm node)
NODE=$(command -v node) || { echo "$NAME: needs node (Node.js 20)" >&2; exit 1; }
[ -x "$JAVA_HOME/bin/javac" ] || { echo "$NAME: no $JAVA_HOME/bin/javac (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 1; }
. bench/tandem-session.sh

mkdir -p "$WORK/bin"
"$JAVA_HOME/bin/javac" -d "$WORK/classes" Tests/Workloads/jvm/KnownTruth.java
# Through links named like the comm (as the live tests run them): their samples are told from
# every other java or node on the host.
ln -sfn "$JAVA_HOME/bin/java" "$WORK/bin/tsb-jvm"
ln -sfn "$(readlink -f "$NODE")" "$WORK/bin/tsb-node"

echo "tandem $(git rev-parse --short HEAD) ($BIN), $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1), node $("$NODE" --version), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%H:%MZ), work in $WORK"
echo "each workload runs $WARM CPU seconds before the sampler starts; counted: the samples from $SKIP s to $((SKIP + WINDOW)) s after the sampler's start"
for runtime in "${RUNTIMES[@]}"; do
    comm=tsb-$runtime
    log=$WORK/$runtime-workload.log
    case $runtime in
        jvm) "$WORK/bin/$comm" -cp "$WORK/classes" tandem.truth.KnownTruth 2 >"$log" 2>&1 & ;;
        node) "$WORK/bin/$comm" Tests/Workloads/node/known_truth.js >"$log" 2>&1 & ;;
        *) die "unknown runtime $runtime (jvm or node)" ;;
    esac
    WORKLOAD_PIDS+=($!)
    pid=${WORKLOAD_PIDS[-1]}
    wait_for_line "$log" ready 60 "$pid"
    while awk -v s="$(cpu_seconds "$pid")" -v w="$WARM" 'BEGIN { exit !(s < w) }'; do
        kill -0 "$pid" 2>/dev/null || die "the $runtime workload exited (log: $log)"
        sleep 0.2
    done
    started=$(date +%s.%N)
    start_tandem "$runtime"
    sleep "$(awk -v s="$started" -v k="$SKIP" -v now="$(date +%s.%N)" 'BEGIN { d = s + k - now; print (d > 0 ? d : 0) }')"
    from_line=$(wc -l <"$log")
    sleep "$WINDOW"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    WORKLOAD_PIDS=()
    sleep 1  # the exit reaches the stream
    stop_tandem "$runtime"
    "$BIN/tandem-aggregator" replay --log-level warning --skip-seconds "$SKIP" --metrics-out "$WORK/$runtime/window-metrics.jsonl" \
        --folded "$WORK/$runtime/window.folded" "$WORK/$runtime"/captures/*.tndm
    echo
    echo "### $runtime"
    python3 bench/runtime-compare.py window "$runtime" "$WORK/$runtime/window.folded" "$comm" "$log" "$from_line"
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs and outputs in $WORK"
