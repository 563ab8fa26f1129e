#!/usr/bin/env bash
# Wire-format benchmark: encode/decode throughput and bytes per sample on a
# realistic synthetic stream (bench/WireBench.swift), one core, optimized build.
#
#   bench/wire-bench.sh [SAMPLES]      (default 2000000)
#
# WireFormat is compiled as its own module, as in a release `swift build`
# (-O, whole module), so that the bench calls it across a module boundary like
# the aggregator does. Nothing here is part of `swift build` or `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-bench
mkdir -p "$out"
for module in WireFormat StreamDecoding; do
    swiftc -swift-version 6 -O -wmo -parse-as-library -package-name tandem -module-name "$module" -I "$out" \
        -emit-module -emit-module-path "$out/$module.swiftmodule" \
        -emit-library -static -o "$out/lib$module.a" Sources/"$module"/*.swift
done
swiftc -swift-version 6 -O -wmo -parse-as-library -I "$out" -L "$out" -lStreamDecoding -lWireFormat \
    bench/WireBench.swift -o "$out/tandem-wire-bench"
# taskset keeps the run on one core when the tool is there.
if command -v taskset >/dev/null; then
    exec taskset -c 0 "$out/tandem-wire-bench" "$@"
fi
exec "$out/tandem-wire-bench" "$@"
