#!/usr/bin/env bash
# Aggregator CPU per 1 M samples with the profiles pipeline on, against metrics only:
# replays a capture amplified to >= 1 M samples (tandem-bench amplify: its samples
# repeated with shifted times) with the release tandem-aggregator under GNU time, with
#   metrics:           profiles -> profilingmetrics -> metrics -> file (/dev/null)
#   + otlphttp:        the same, and profiles -> otlphttp (protobuf, gzip) to
#                      Tests/Peers/otlp_profiles_peer.py on 127.0.0.1
#   + otlp:            the same, and profiles -> otlp (gRPC, protobuf, gzip) to
#                      Tests/Peers/otlp_grpc_peer.py on 127.0.0.1 (a sink: not recorded)
#   + file:            the same, and profiles -> file (OTLP/JSON lines to /dev/null)
#   + elasticsearch:   the same, and profiles -> elasticsearch (Universal Profiling
#                      documents, gzip) to Tests/Peers/es_bulk_stub.py on 127.0.0.1
#                      in its sink mode (answers 201 per document without parsing)
#   otlphttp without receivers.profiling.source_lines: native and Go frames without
#                      source lines (no line table read), against the otlphttp row
# CPU is the aggregator's user + system time (its exporter threads included), best of RUNS.
#   bench/profiles-export-cpu.sh [CAPTURE]      (default: the test fixture)
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-Tests/AggregatorCoreTests/Fixtures/demo-mixed.tndm}
runs=${RUNS:-3}
scratch=${SCRATCH:-.build-release}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
swift build -c release --scratch-path "$scratch" --product tandem-aggregator >&2
swift build -c release --scratch-path "$scratch" --product tandem-bench >&2
bin=$scratch/release
work=$(mktemp -d)
peer_pid=
grpc_pid=
es_pid=
trap 'for pid in $peer_pid $grpc_pid $es_pid; do kill "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT
"$bin/tandem-bench" amplify "$capture" "$work/amplified.tndm" --min-samples 1000000 >&2
samples=$("$bin/tandem-bench" count "$work/amplified.tndm" | sed -n 's/^samples=\([0-9]*\).*/\1/p')

python3 Tests/Peers/otlp_profiles_peer.py serve - > "$work/peer.out" &
peer_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/peer.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^PORT //p' "$work/peer.out")
python3 Tests/Peers/otlp_grpc_peer.py serve - - > "$work/grpc.out" 2> /dev/null &
grpc_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/grpc.out" 2>/dev/null && break; sleep 0.1; done
grpc_port=$(sed -n 's/^PORT //p' "$work/grpc.out")
python3 Tests/Peers/es_bulk_stub.py - '[]' > "$work/es.out" &
es_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/es.out" 2>/dev/null && break; sleep 0.1; done
es_port=$(sed -n 's/^PORT //p' "$work/es.out")

config() {  # extra exporter definition, extra profiles exporter, extra receiver setting
    cat <<YAML
receivers:
  profiling:
${3:-}
connectors:
  profilingmetrics:
exporters:
  file/metrics:
    path: /dev/null
$1
service:
  pipelines:
    profiles:
      receivers: [ profiling ]
      exporters: [ profilingmetrics$2 ]
    metrics:
      receivers: [ profilingmetrics ]
      exporters: [ file/metrics ]
YAML
}
config "" "" > "$work/metrics.yaml"
config "  otlphttp:
    endpoint: http://127.0.0.1:$port
    sending_queue: { queue_size: 100000 }" ", otlphttp" > "$work/otlphttp.yaml"
config "  otlp:
    endpoint: http://127.0.0.1:$grpc_port
    sending_queue: { queue_size: 100000 }" ", otlp" > "$work/otlp.yaml"
config "  file/profiles:
    path: /dev/null" ", file/profiles" > "$work/file.yaml"
config "  elasticsearch:
    endpoint: http://127.0.0.1:$es_port
    sending_queue: { queue_size: 100000 }" ", elasticsearch" > "$work/elasticsearch.yaml"
config "  otlphttp:
    endpoint: http://127.0.0.1:$port
    sending_queue: { queue_size: 100000 }" ", otlphttp" "    source_lines: false" > "$work/otlphttp-nolines.yaml"

echo "capture $capture amplified to $samples samples; best of $runs"
echo "| pipelines | CPU s | CPU s per 1 M samples | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: |"
for name in ${PIPELINES:-metrics otlphttp otlphttp-nolines otlp file elasticsearch}; do
    best=
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%U %S %M" -o "$work/time" "$bin/tandem-aggregator" replay --config "$work/$name.yaml" \
            --log-level error "$work/amplified.tndm" > /dev/null
        read -r user system rss < "$work/time"
        cpu=$(echo "$user + $system" | bc)
        if [ -z "$best" ] || [ "$(echo "$cpu < $best" | bc)" = 1 ]; then best=$cpu; best_rss=$rss; fi
    done
    label=$name; [ "$name" != metrics ] && label="metrics + profiles to ${name%-nolines}"
    [ "$name" = otlphttp-nolines ] && label="$label, source_lines: false"
    printf '| %s | %.2f | %.2f | %.1f |\n' "$label" "$best" "$(echo "$best * 1000000 / $samples" | bc -l)" "$(echo "$best_rss / 1024" | bc -l)"
done
