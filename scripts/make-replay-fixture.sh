#!/usr/bin/env bash
# Records the real capture that the replay tests use as a fixture: the demo
# workload in `mixed` mode for 2 s at 499 Hz, cut down by TrimCapture.swift to
# the demo's samples and the processes and kernel symbols they need. Run as root after
# `swift build`; then regenerate the expected metrics with the replay test's
# instructions (Tests/AggregatorCoreTests/CapturedStreamTests.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-fixture
mkdir -p "$out"
for module in WireFormat StreamDecoding; do
    swiftc -swift-version 6 -O -wmo -parse-as-library -package-name tandem -module-name "$module" -I "$out" \
        -emit-module -emit-module-path "$out/$module.swiftmodule" \
        -emit-library -static -o "$out/lib$module.a" Sources/"$module"/*.swift
done
swiftc -swift-version 6 -O -parse-as-library -I "$out" -L "$out" -lStreamDecoding -lWireFormat \
    scripts/replay-fixture/TrimCapture.swift -o "$out/trim-capture"
demo=$(./demo/build.sh "$out/demo")
sampler="$(swift build --show-bin-path)/tandem-sampler"
"$demo" mixed 4 &
sleep 0.5
"$sampler" --output "$out/full.tndm" --duration 2 --samples-per-second 499 \
    --log-level warning
wait
"$out/trim-capture" "$out/full.tndm" Tests/AggregatorCoreTests/Fixtures/demo-mixed.tndm tandem-demo
