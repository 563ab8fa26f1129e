#!/usr/bin/env bash
# Fuzzes the wire-format decoders with libFuzzer for a bounded time each: the
# stream decoder (the aggregator's input) and the control-record decoder (the
# privileged sampler's input from the aggregator).
#
#   scripts/fuzz-decoder.sh [SECONDS]        (default 60, per decoder)
#
# Builds Fuzz/DecoderFuzzTarget.swift with the StreamDecoding sources over WireFormat
# built as a module, and Fuzz/ControlDecoderFuzzTarget.swift with the WireFormat
# sources (ASan + libFuzzer); seeds each corpus with valid streams from
# Fuzz/SeedCorpus.swift and Fuzz/ControlSeedCorpus.swift, and runs. Exits non-zero on
# any crash, sanitizer report, timeout or memory blow-up; the input that caused it is
# left in .build-fuzz/artifacts/ (control-*/stream-* prefixes). The working corpora in
# .build-fuzz/corpus and .build-fuzz/control-corpus persist between runs.
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
out=.build-fuzz
mkdir -p "$out/corpus" "$out/control-corpus" "$out/artifacts" "$out/decoder-modules"

echo "fuzz-decoder: building the fuzz targets and the seed generator" >&2
flags=(-swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -package-name tandem)
# WireFormat as a module of its own, as in `swift build`; the stream decoder and its target on top.
swiftc "${flags[@]}" -module-name WireFormat -emit-module -emit-module-path "$out/decoder-modules/WireFormat.swiftmodule" \
    -emit-library -static -o "$out/decoder-modules/libWireFormat.a" Sources/WireFormat/*.swift
swiftc "${flags[@]}" -use-ld=lld -module-name StreamDecoding -I "$out/decoder-modules" \
    Sources/StreamDecoding/*.swift Fuzz/DecodeChecks.swift Fuzz/DecoderFuzzTarget.swift \
    "$out/decoder-modules/libWireFormat.a" -o "$out/decoder-fuzzer"
# The control decoder is part of WireFormat: built with its sources.
swiftc "${flags[@]}" -use-ld=lld \
    Sources/WireFormat/*.swift Fuzz/DecodeChecks.swift Fuzz/ControlDecoderFuzzTarget.swift -o "$out/control-decoder-fuzzer"
swiftc -swift-version 6 -parse-as-library -O -package-name tandem Sources/WireFormat/*.swift \
    Fuzz/SeedFile.swift Fuzz/SeedCorpus.swift Fuzz/ControlSeedCorpus.swift -o "$out/seed-corpus"
rm -rf "$out/seeds" "$out/control-seeds"
"$out/seed-corpus" "$out/seeds" "$out/control-seeds" >&2

# fuzz NAME FUZZER CORPUS SEEDS: runs one fuzzer for $seconds.
# -rss_limit_mb (the process, ASan included) and -malloc_limit_mb (any single
# allocation): the decoders allocate nothing near either for inputs of max_len;
# exceeding them is a finding.
# -max_len: several records, and long enough for real lists.
fuzz() {
    local name=$1 fuzzer=$2 corpus=$3 seeds=$4 status=0
    echo "fuzz-decoder: running the $name fuzzer for ${seconds}s" >&2
    # The Swift runtime's backtracer would race ASan's report: leave crashes to ASan.
    SWIFT_BACKTRACE=enable=no "$fuzzer" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 -max_len=16384 \
        -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 \
        "$corpus" "$seeds" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "fuzz-decoder: $name FAILED (status $status); reproduce with: $fuzzer $out/artifacts/$name-<file>" >&2
        exit "$status"
    fi
    echo "fuzz-decoder: $name: no crash in ${seconds}s" >&2
}
fuzz stream "$out/decoder-fuzzer" "$out/corpus" "$out/seeds"
fuzz control "$out/control-decoder-fuzzer" "$out/control-corpus" "$out/control-seeds"
