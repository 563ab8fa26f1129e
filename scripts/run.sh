#!/usr/bin/env bash
# tandem's main job on an embedded default: profile this machine and show the result.
#
# Builds release binaries, starts tandem-aggregator as the unprivileged user
# `tandem` and tandem-sampler as root, connected over a Unix socket; runs a small
# demo workload so that even an idle machine shows something; stops both cleanly
# and prints the top leaf functions, samples by frame type and kernel classes.
# Outputs (flame graph SVG, folded stacks, pprof, OTLP JSON metrics, report) go
# to one folder, whose path is printed.
#
#   TANDEM_DURATION=SECONDS   how long to profile (default 20)
#   TANDEM_DEMO=0             do not run the demo workload
#   TANDEM_FREQUENCY=HZ       samples per second per CPU (default 99)
#   TANDEM_OUTPUT=DIR         where to write (default out/run-<time>)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

duration=${TANDEM_DURATION:-20}
demo=${TANDEM_DEMO:-1}
frequency=${TANDEM_FREQUENCY:-99}
output=${TANDEM_OUTPUT:-$PWD/out/run-$(date +%Y%m%d-%H%M%S)}
user=tandem

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "run: the sampler needs root (or CAP_BPF, CAP_PERFMON, CAP_SYSLOG, CAP_SYS_PTRACE); run: sudo make run" >&2
    exit 1
fi

step "Installing missing packages"
./scripts/install-deps.sh

step "Building release binaries (the first build takes a few minutes)"
. scripts/release-binaries.sh
tandem_build_release
bin=$TANDEM_BIN

id "$user" >/dev/null 2>&1 || step "Creating the unprivileged system user '$user'"
tandem_ensure_user

mkdir -p "$output"
chown "$user:" "$output"
runtime=$(mktemp -d /tmp/tandem-run.XXXXXX)
chown "$user:" "$runtime"
chmod 0750 "$runtime"
socket=$runtime/tandem.sock

aggregator_pid=""
demo_pid=""
cleanup() {
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
    [ -n "$aggregator_pid" ] && kill "$aggregator_pid" 2>/dev/null || true
    rm -rf "$runtime"
}
trap cleanup EXIT

step "Starting tandem-aggregator as '$user' (no capabilities)"
setpriv --reuid="$user" --regid="$user" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    "$bin/tandem-aggregator" serve --socket "$socket" --socket-mode 0660 --output-dir "$output" \
    --log-level notice 2>"$output/aggregator.log" &
aggregator_pid=$!
for _ in $(seq 100); do
    [ -S "$socket" ] && break
    kill -0 "$aggregator_pid" 2>/dev/null || { cat "$output/aggregator.log" >&2; exit 1; }
    sleep 0.1
done
[ -S "$socket" ] || { echo "run: the aggregator did not create $socket" >&2; cat "$output/aggregator.log" >&2; exit 1; }

if [ "$demo" != 0 ]; then
    step "Starting the demo workload (TANDEM_DEMO=0 turns it off)"
    demo_bin=$(./demo/build.sh "$PWD/.build-demo")
    "$demo_bin" mixed "$duration" &
    demo_pid=$!
fi

step "Sampling every CPU at $frequency Hz for $duration s (TANDEM_DURATION sets it)"
# The sampler drops CAP_DAC_OVERRIDE after start-up: it reaches the socket (mode
# 0660, group $user) as a member of the aggregator's group, as its systemd unit does.
setpriv --groups "$(id -g "$user")" -- "$bin/tandem-sampler" --socket "$socket" --duration "$duration" --samples-per-second "$frequency" \
    --log-level warning

step "Stopping the aggregator and writing the outputs"
kill -TERM "$aggregator_pid"
wait "$aggregator_pid" || { echo "run: the aggregator failed; its log:" >&2; cat "$output/aggregator.log" >&2; exit 1; }
aggregator_pid=""
[ -n "$demo_pid" ] && { wait "$demo_pid" 2>/dev/null || true; demo_pid=""; }

echo
cat "$output/report.txt"
echo
echo "Outputs in $output:"
echo "  flamegraph.svg   flame graph (open in a browser)"
echo "  stacks.folded    folded stacks"
echo "  profile.pb.gz    pprof profile (go tool pprof)"
echo "  metrics.jsonl    profilingmetrics metrics, OTLP JSON lines"
echo "  report.txt       the summary above; aggregator.log the aggregator's log"
