#!/usr/bin/env bash
# Fuzzes SamplingRateReader (the YAML subset tandem-sampler reads as root, before it
# drops its start-up capabilities) with libFuzzer for a bounded time.
#
#   scripts/fuzz-sampling-rate-reader.sh [SECONDS]        (default 60)
#
# Builds WireFormat as a module (for SamplingRate), then Fuzz/SamplingRateReaderFuzzTarget.swift
# with the reader's sources (ASan + libFuzzer), seeds the corpus with the packaged
# configurations, and runs. Exits non-zero on any crash, sanitizer report, timeout or
# memory blow-up; the input that caused it is left in .build-fuzz/rate-artifacts/.
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
. scripts/fuzz-common.sh
out=.build-fuzz
mkdir -p "$out/rate-modules" "$out/rate-corpus" "$out/rate-artifacts" "$out/rate-seeds"

echo "fuzz-sampling-rate-reader: building the fuzz target" >&2
flags=(-swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -package-name tandem)
fuzz_module "$out/rate-modules" WireFormat Sources/WireFormat/*.swift
swiftc "${flags[@]}" -use-ld=lld -module-name SamplingRateReader -I "$out/rate-modules" \
    Sources/SamplingRateReader/*.swift Fuzz/SamplingRateReaderFuzzTarget.swift \
    "$out/rate-modules/libWireFormat.a" -o "$out/sampling-rate-reader-fuzzer"

# Seeds: the configurations tandem ships, and a few shapes the reader refuses.
cp packaging/tandem.yml "$out/rate-seeds/packaged.yml"
sed -n '/tandem.yml: |/,/^---/p' packaging/kubernetes/tandem.yaml | sed '1d;$d;s/^    //' > "$out/rate-seeds/configmap.yml"
printf 'receivers:\n  profiling:\n    SamplesPerSecond: 99\n' > "$out/rate-seeds/older.yml"
printf 'receivers: {profiling: {samples_per_second: 5}}\n' > "$out/rate-seeds/flow.yml"
printf 'x: &a\n  samples_per_second: 7\nreceivers:\n  profiling:\n    <<: *a\n' > "$out/rate-seeds/merge.yml"
printf 'receivers:\n  profiling:\n    samples_per_second: 49\n    off_cpu_threshold: 0.01 # 1%%\n' > "$out/rate-seeds/offcpu.yml"
printf 'receivers:\n  profiling:\n    off_cpu_threshold: 1.000000000\n' > "$out/rate-seeds/offcpu-one.yml"
printf 'receivers:\n  profiling:\n    off_cpu_threshold: 1e-2\n' > "$out/rate-seeds/offcpu-exponent.yml"
printf 'receivers:\n  profiling:\n    OffCPUThreshold: 10\n' > "$out/rate-seeds/offcpu-older.yml"

fuzz_run fuzz-sampling-rate-reader "$out/sampling-rate-reader-fuzzer" "$seconds" "$out/rate-artifacts" -max_len=4096 -- \
    "$out/rate-corpus" "$out/rate-seeds"
