#!/usr/bin/env bash
# Fuzzes what tandem-sampler, as root, does with an unwind table the aggregator sends
# (control record 12): UnwindTableLoader validating it with UnwindTable(serialized:)
# (Sources/UnwindTableFormat) and copying it into the BPF maps, with libFuzzer for a
# bounded time.
#
#   scripts/fuzz-unwind-table-validator.sh [SECONDS]        (default 60)
#
# Builds the sampler's modules as `swift build` does (WireFormat, SystemCalls,
# UnwindTableFormat; CTandemBPF from its module map) with ASan + libFuzzer, and
# Fuzz/UnwindTableValidatorFuzzTarget.swift inside UnwindTableLoading. Seeds: the tables
# the aggregator's compiler makes of /usr/bin/true, /usr/bin/ls and a small C program,
# and every rule kind (Fuzz/UnwindTableSeedCorpus.swift). Exits non-zero on any crash,
# sanitizer report, broken invariant, timeout or memory blow-up; the input that caused it
# is left in .build-fuzz/unwind-artifacts/.
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
. scripts/fuzz-common.sh
out=.build-fuzz
modules="$out/unwind-modules"
mkdir -p "$modules" "$out/unwind-corpus" "$out/unwind-artifacts"

echo "fuzz-unwind-table-validator: building the fuzz target and the seed generator" >&2
flags=(-swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -package-name tandem -I "$modules" -I Sources/CTandemBPF)
fuzz_module "$modules" WireFormat Sources/WireFormat/*.swift
fuzz_module "$modules" SystemCalls Sources/SystemCalls/*.swift
fuzz_module "$modules" UnwindTableFormat Sources/UnwindTableFormat/*.swift
swiftc "${flags[@]}" -use-ld=lld -module-name UnwindTableLoading \
    Sources/UnwindTableLoading/*.swift Fuzz/UnwindTableValidatorFuzzTarget.swift \
    "$modules/libUnwindTableFormat.a" "$modules/libSystemCalls.a" "$modules/libWireFormat.a" \
    -o "$out/unwind-table-validator-fuzzer"

# The seed generator, uninstrumented: the compiler (with ELF and the table format) and a main.
seedflags=(-swift-version 6 -parse-as-library -O -package-name tandem -I "$modules/seed")
mkdir -p "$modules/seed"
for name in ELF UnwindTableFormat; do
    swiftc "${seedflags[@]}" -module-name "$name" -emit-module -emit-module-path "$modules/seed/$name.swiftmodule" \
        -emit-library -static -o "$modules/seed/lib$name.a" Sources/"$name"/*.swift
done
swiftc "${seedflags[@]}" -module-name UnwindTableCompiler \
    Sources/UnwindTableCompiler/*.swift Fuzz/SeedFile.swift Fuzz/UnwindTableSeedCorpus.swift \
    "$modules/seed/libUnwindTableFormat.a" "$modules/seed/libELF.a" -o "$out/unwind-table-seeds"
printf 'int twice(int x) { return 2 * x; }\nint main(int c, char **v) { (void)v; return twice(c); }\n' > "$modules/small.c"
cc -O2 -fomit-frame-pointer -o "$modules/small" "$modules/small.c"
rm -rf "$out/unwind-seeds"
"$out/unwind-table-seeds" "$out/unwind-seeds" /usr/bin/true /usr/bin/ls "$modules/small" >&2

# -rss_limit_mb (the process, ASan included) and -malloc_limit_mb (any single allocation):
# the validator allocates its rows only for a count the input's size matches, a few times
# the input; exceeding either is a finding. -max_len: /usr/bin/ls's table (about 20 KB) and more.
fuzz_run fuzz-unwind-table-validator "$out/unwind-table-validator-fuzzer" "$seconds" "$out/unwind-artifacts" \
    -max_len=65536 -- "$out/unwind-corpus" "$out/unwind-seeds"
