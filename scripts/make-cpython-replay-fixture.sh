#!/usr/bin/env bash
# Records the CPython capture the replay tests use (Tests/AggregatorCoreTests/Fixtures/
# cpython-3.11.tndm, read by CPythonReplayTests): Debian's python3.11 running the
# known-truth workload, profiled 8 s at 499 Hz by the sampler streaming to an aggregator
# (the CPython walk needs the aggregator's control records, so not `--output`), the
# aggregator's capture cut by TrimCapture.swift to that process. Run as root after
# `swift build`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
out=.build-fixture/cpython
rm -rf "$out" && mkdir -p "$out/capture"
aggregator_pid=""
workload_pid=""
cleanup() {
    [ -n "$workload_pid" ] && kill "$workload_pid" 2>/dev/null || true
    [ -n "$aggregator_pid" ] && kill "$aggregator_pid" 2>/dev/null || true
}
trap cleanup EXIT
# Named by the link it runs through: comm comes from the exec'd file's name.
ln -sf /usr/bin/python3.11 "$out/tpy-fixture"
"$bin/tandem-aggregator" serve --socket "$out/tandem.sock" --output-dir "$out" --capture "$out/capture" \
    --log-level warning 2>"$out/aggregator.log" &
aggregator_pid=$!
for _ in $(seq 100); do [ -S "$out/tandem.sock" ] && break; sleep 0.1; done
"$out/tpy-fixture" Tests/Workloads/python/known_truth.py tpy-fixture 1 >/dev/null &
workload_pid=$!
sleep 0.5
"$bin/tandem-sampler" --socket "$out/tandem.sock" --duration 8 --samples-per-second 499 --log-level warning
kill "$workload_pid"; workload_pid=""
sleep 2
kill -INT "$aggregator_pid"; wait "$aggregator_pid" || true; aggregator_pid=""
# The trim tool, as scripts/make-replay-fixture.sh builds it.
trim=.build-fixture
for module in WireFormat StreamDecoding; do
    swiftc -swift-version 6 -O -wmo -parse-as-library -package-name tandem -module-name "$module" -I "$trim" \
        -emit-module -emit-module-path "$trim/$module.swiftmodule" \
        -emit-library -static -o "$trim/lib$module.a" Sources/"$module"/*.swift
done
swiftc -swift-version 6 -O -parse-as-library -I "$trim" -L "$trim" -lStreamDecoding -lWireFormat \
    scripts/replay-fixture/TrimCapture.swift -o "$trim/trim-capture"
"$trim/trim-capture" "$out"/capture/*.tndm Tests/AggregatorCoreTests/Fixtures/cpython-3.11.tndm tpy-fixture
