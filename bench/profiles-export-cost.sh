#!/usr/bin/env bash
# Bytes per sample on the wire for the exporters of a `profiles` pipeline: replays a
# capture (default: the test fixture) with otlphttp to Tests/Peers/otlp_profiles_peer.py
# (which records each request's body size as received), with otlp (gRPC) to
# Tests/Peers/otlp_grpc_peer.py, with the file exporter, and with elasticsearch to
# Tests/Peers/es_bulk_stub.py (bulk bodies as received; samples are the
# profiling-events-all documents), and divides by the samples the decoded profiles hold.
# grpcio hands its servicer the decompressed message only, so a gRPC request's size is
# computed from the decoded message: the 5-byte prefix plus the message, gzip-compressed
# with tandem's zlib settings (level 6, memLevel 8) for gzip.
#   bench/profiles-export-cost.sh [CAPTURE] [REPORTER_INTERVAL]
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-Tests/AggregatorCoreTests/Fixtures/demo-mixed.tndm}
interval=${2:-5s}
aggregator=.build/debug/tandem-aggregator
[ -x "$aggregator" ] || swift build --product tandem-aggregator
work=$(mktemp -d)
peer_pid=
grpc_pid=
es_pid=
trap 'for pid in $peer_pid $grpc_pid $es_pid; do kill "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT

python3 Tests/Peers/otlp_profiles_peer.py serve "$work/dump.jsonl" > "$work/peer.out" &
peer_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/peer.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^PORT //p' "$work/peer.out")
python3 Tests/Peers/otlp_grpc_peer.py serve "$work/dump.jsonl" - > "$work/grpc.out" 2> /dev/null &
grpc_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/grpc.out" 2>/dev/null && break; sleep 0.1; done
grpc_port=$(sed -n 's/^PORT //p' "$work/grpc.out")
python3 Tests/Peers/es_bulk_stub.py "$work/es.jsonl" '[]' > "$work/es.out" &
es_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/es.out" 2>/dev/null && break; sleep 0.1; done
es_port=$(sed -n 's/^PORT //p' "$work/es.out")

run() {  # name, exporter settings (YAML, indented 4)
    cat > "$work/config.yaml" <<YAML
receivers:
  profiling:
    reporter_interval: $interval
exporters:
  $1:
$2
service:
  pipelines:
    profiles:
      receivers: [ profiling ]
      exporters: [ $1 ]
YAML
    : > "$work/dump.jsonl"
    "$aggregator" replay --config "$work/config.yaml" --log-level error "$capture" > /dev/null
}

report() {  # label, file of records or lines, how to size a line
    python3 - "$1" "$2" "$3" <<'PYTHON'
import gzip, json, sys
from google.protobuf import json_format
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import ExportProfilesServiceRequest
label, path, mode = sys.argv[1:]
size = samples = requests = 0
for line in open(path):
    if not line.strip():
        continue
    request = ExportProfilesServiceRequest()
    if mode == "wire":
        record = json.loads(line)
        size += record["bytes"]
        json_format.ParseDict(record["request"], request)
    elif mode.startswith("grpc"):
        json_format.ParseDict(json.loads(line)["request"], request)
        message = request.SerializeToString()
        size += 5 + (len(gzip.compress(message, compresslevel=6, mtime=0)) if mode == "grpc-gzip" else len(message))
    else:
        size += len(line.encode())
        json_format.Parse(line, request)
    requests += 1
    samples += sum(len(s.timestamps_unix_nano) for r in request.resource_profiles
                   for sp in r.scope_profiles for p in sp.profiles for s in p.samples)
print(f"| {label} | {requests} | {samples} | {size} | {size / samples:.2f} |")
PYTHON
}

echo "capture $capture, reporter_interval $interval"
echo "| exporter | requests/lines | samples | bytes | bytes/sample |"
echo "| --- | --- | --- | --- | --- |"
run otlphttp "    endpoint: http://127.0.0.1:$port"
report "otlphttp, protobuf, gzip" "$work/dump.jsonl" wire
run otlphttp "    endpoint: http://127.0.0.1:$port
    compression: none"
report "otlphttp, protobuf, no compression" "$work/dump.jsonl" wire
run otlphttp "    endpoint: http://127.0.0.1:$port
    encoding: json"
report "otlphttp, JSON, gzip" "$work/dump.jsonl" wire
run otlp "    endpoint: http://127.0.0.1:$grpc_port"
report "otlp (gRPC), protobuf, gzip" "$work/dump.jsonl" grpc-gzip
run otlp "    endpoint: http://127.0.0.1:$grpc_port
    compression: none"
report "otlp (gRPC), protobuf, no compression" "$work/dump.jsonl" grpc-none
run file "    path: $work/profiles.jsonl"
report "file (OTLP/JSON lines)" "$work/profiles.jsonl" line

report_es() {  # label
    python3 - "$1" "$work/es.jsonl" <<'PYTHON'
import json, sys
label, path = sys.argv[1:]
size = samples = requests = documents = 0
for line in open(path):
    record = json.loads(line)
    requests += 1
    size += record["bytes"]
    documents += len(record["lines"]) // 2
    samples += sum(1 for action in record["lines"][0::2] if next(iter(action.values()))["_index"] == "profiling-events-all")
print(f"| {label} ({documents} documents) | {requests} | {samples} | {size} | {size / samples:.2f} |")
PYTHON
}
: > "$work/es.jsonl"
run elasticsearch "    endpoint: http://127.0.0.1:$es_port"
report_es "elasticsearch, Universal Profiling, gzip"
: > "$work/es.jsonl"
run elasticsearch "    endpoint: http://127.0.0.1:$es_port
    compression: none"
report_es "elasticsearch, Universal Profiling, no compression"
