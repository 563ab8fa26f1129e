#!/usr/bin/env bash
# tandem against Java Flight Recorder on the same JVM (issue 14, docs/jvm.md): the known-truth
# workload (Tests/Workloads/jvm/KnownTruth.java: alpha, Calc.beta and the lambda gamma take
# about 50/20/30 % of the work, and print the CPU time each took) under Debian's OpenJDK 17,
# 2 worker threads, started with
#   -XX:StartFlightRecording=duration=DURATIONs,filename=...,settings=profile
# (execution samples every 10 ms per Java thread) while tandem samples every CPU at 99 Hz.
# The JVM runs from its start until JFR has written its recording, then is killed, so both
# profilers cover the same life of it; tandem names Java frames only once its aggregator has
# read libjvm.so, a few seconds in, and JFR's samples hold Java threads in Java code only.
# Prints (bench/runtime-compare.py jfr) each profiler's share of the innermost measured method
# beside the workload's truth, and each one's top 10 leaf methods with the other's share of them.
#
# tandem runs as scripts/run.sh runs it (bench/tandem-session.sh): release binaries (built if
# missing), the aggregator as the user `tandem`. Not a test (not run by CI). Run as root.
#
# usage: [DURATION=30] [BIN=dir] [WORK=dir] bench/jfr-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NAME=jfr-compare.sh
DURATION=${DURATION:-30}
HZ=99
JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
WORK=${WORK:-$(mktemp -d /tmp/tandem-jfr.XXXXXX)}
COMM=tjb-jfr
for tool in java javac jfr; do
    [ -x "$JAVA_HOME/bin/$tool" ] || { echo "$NAME: no $JAVA_HOME/bin/$tool (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 1; }
done
. bench/tandem-session.sh

mkdir -p "$WORK/bin" "$WORK/jfr"
"$JAVA_HOME/bin/javac" -d "$WORK/classes" Tests/Workloads/jvm/KnownTruth.java
# Through a link named like the comm, as the live test runs it (the launcher finds its JDK
# through /proc/self/exe): its samples are told from every other java on the host.
ln -sfn "$JAVA_HOME/bin/java" "$WORK/bin/$COMM"

echo "tandem $(git rev-parse --short HEAD) ($BIN), $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%H:%MZ), work in $WORK"
start_tandem jfr
"$WORK/bin/$COMM" "-XX:StartFlightRecording=duration=${DURATION}s,filename=$WORK/jfr/recording.jfr,settings=profile" \
    -cp "$WORK/classes" tandem.truth.KnownTruth 2 >"$WORK/workload.log" 2>&1 &
WORKLOAD_PIDS+=($!)
wait_for_line "$WORK/workload.log" ready 60 "${WORKLOAD_PIDS[-1]}"
# JFR writes the file when the recording's duration is over.
for _ in $(seq $(((DURATION + 120) * 10))); do
    [ -s "$WORK/jfr/recording.jfr" ] && break
    kill -0 "${WORKLOAD_PIDS[-1]}" 2>/dev/null || die "the JVM exited before JFR wrote its recording (log: $WORK/workload.log)"
    sleep 0.1
done
[ -s "$WORK/jfr/recording.jfr" ] || die "JFR wrote no recording in $((DURATION + 120)) s (log: $WORK/workload.log)"
sleep 1  # the file complete
kill -KILL "${WORKLOAD_PIDS[-1]}"
wait "${WORKLOAD_PIDS[-1]}" 2>/dev/null || true
WORKLOAD_PIDS=()
sleep 1  # the exit reaches the stream
stop_tandem jfr
"$JAVA_HOME/bin/jfr" print --json --stack-depth 64 --events jdk.ExecutionSample "$WORK/jfr/recording.jfr" >"$WORK/jfr/samples.json"
echo "JFR: $("$JAVA_HOME/bin/jfr" summary "$WORK/jfr/recording.jfr" | grep -E '^ *(Start:|Duration:|jdk.ExecutionSample )' | tr -s ' ' | tr '\n' ';')"
echo "workload's last line: $(grep '^truth ' "$WORK/workload.log" | tail -n 1)"
echo
python3 bench/runtime-compare.py jfr "$WORK/jfr/out/stacks.folded" "$COMM" "$WORK/jfr/samples.json" "$WORK/workload.log"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs and outputs in $WORK"
