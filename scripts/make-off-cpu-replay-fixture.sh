#!/usr/bin/env bash
# Records the off-CPU capture the replay tests use (Tests/AggregatorCoreTests/Fixtures/
# off-cpu.tndm, read by OffCPUReplayTests): Tests/Workloads/sleep_compute.c (30 ms of
# computing, 70 ms of nanosleep, in turn) profiled 3 s at 99 Hz with every switch off the
# CPU recorded (--off-cpu-threshold 1), written by the sampler itself (--output), then cut
# by TrimCapture.swift to that process (about 6 KB). The workload runs longer than the
# sampler, whose BPF load takes seconds, and is stopped after it. Its binary is in
# .build-fixture: elsewhere its frames replay as file+offset, the kernel's and libc's by name.
# Run as root after `swift build`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
out=.build-fixture/off-cpu
rm -rf "$out" && mkdir -p "$out"
workload_pid=""
cleanup() { [ -n "$workload_pid" ] && kill "$workload_pid" 2>/dev/null || true; }
trap cleanup EXIT
# Frame pointers: a capture written with --output has no aggregator to send unwind tables.
cc -O1 -g -fno-omit-frame-pointer -o "$out/toff-fixture" Tests/Workloads/sleep_compute.c
"$out/toff-fixture" 12 >"$out/truth.txt" &
workload_pid=$!
sleep 0.3
"$bin/tandem-sampler" --output "$out/capture.tndm" --duration 3 --samples-per-second 99 \
    --off-cpu-threshold 1 --log-level warning
kill "$workload_pid" 2>/dev/null || true; workload_pid=""
# The trim tool, as scripts/make-replay-fixture.sh builds it.
trim=.build-fixture
for module in WireFormat StreamDecoding; do
    swiftc -swift-version 6 -O -wmo -parse-as-library -package-name tandem -module-name "$module" -I "$trim" \
        -emit-module -emit-module-path "$trim/$module.swiftmodule" \
        -emit-library -static -o "$trim/lib$module.a" Sources/"$module"/*.swift
done
swiftc -swift-version 6 -O -parse-as-library -I "$trim" -L "$trim" -lStreamDecoding -lWireFormat \
    scripts/replay-fixture/TrimCapture.swift -o "$trim/trim-capture"
"$trim/trim-capture" "$out/capture.tndm" Tests/AggregatorCoreTests/Fixtures/off-cpu.tndm toff-fixture
