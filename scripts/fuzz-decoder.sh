#!/usr/bin/env bash
# Fuzzes the wire-format decoder with libFuzzer for a bounded time.
#
#   scripts/fuzz-decoder.sh [SECONDS]        (default 60)
#
# Builds Fuzz/DecoderFuzzTarget.swift with the StreamDecoding sources over WireFormat (ASan +
# libFuzzer), seeds the corpus with valid streams from Fuzz/SeedCorpus.swift,
# and runs. Exits non-zero on any crash, sanitizer report, timeout or memory
# blow-up; the input that caused it is left in .build-fuzz/artifacts/.
# The working corpus in .build-fuzz/corpus persists between runs.
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
out=.build-fuzz
mkdir -p "$out/corpus" "$out/artifacts"

echo "fuzz-decoder: building the fuzz target and the seed generator" >&2
# WireFormat as a module of its own, as in `swift build`; the decoder and the target on top.
mkdir -p "$out/decoder-modules"
flags=(-swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -package-name tandem)
swiftc "${flags[@]}" -module-name WireFormat -emit-module -emit-module-path "$out/decoder-modules/WireFormat.swiftmodule" \
    -emit-library -static -o "$out/decoder-modules/libWireFormat.a" Sources/WireFormat/*.swift
swiftc "${flags[@]}" -use-ld=lld -module-name StreamDecoding -I "$out/decoder-modules" \
    Sources/StreamDecoding/*.swift Fuzz/DecoderFuzzTarget.swift "$out/decoder-modules/libWireFormat.a" -o "$out/decoder-fuzzer"
swiftc -swift-version 6 -parse-as-library -O -package-name tandem Sources/WireFormat/*.swift Fuzz/SeedCorpus.swift -o "$out/seed-corpus"
rm -rf "$out/seeds"
"$out/seed-corpus" "$out/seeds" >&2

echo "fuzz-decoder: running for ${seconds}s" >&2
# -rss_limit_mb (the process, ASan included) and -malloc_limit_mb (any single
# allocation): the decoder allocates nothing near either for inputs of max_len;
# exceeding them is a finding.
# -max_len: several records, and long enough for real lists.
status=0
# The Swift runtime's backtracer would race ASan's report: leave crashes to ASan.
SWIFT_BACKTRACE=enable=no "$out/decoder-fuzzer" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 -max_len=16384 \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
    "$out/corpus" "$out/seeds" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzz-decoder: FAILED (status $status); reproduce with: $out/decoder-fuzzer $out/artifacts/<file>" >&2
    exit "$status"
fi
echo "fuzz-decoder: no crash in ${seconds}s" >&2
