#!/usr/bin/env bash
# Fuzzes the DWARF .debug_line reader (Sources/SourceLines) with libFuzzer for N seconds.
#   scripts/fuzz-line-programs.sh [SECONDS]      (default 60)
# Seeds: the .debug_line of a small C program built here with DWARF 4 and DWARF 5.
# Exits non-zero, leaving the crashing input in .build/fuzz-line-programs/, if an input traps.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work=.build/fuzz-line-programs
mkdir -p "$work/corpus"
# ByteCursor's module (instrumented too), as in `swift build`; the reader with the harness inside it on top.
swiftc -O -sanitize=fuzzer -parse-as-library -package-name tandem -module-name UnwindTableFormat \
    -emit-module -emit-module-path "$work/UnwindTableFormat.swiftmodule" \
    -emit-library -static -o "$work/libUnwindTableFormat.a" Sources/UnwindTableFormat/*.swift
swiftc -O -sanitize=fuzzer -parse-as-library -package-name tandem -module-name SourceLines -I "$work" \
    Sources/SourceLines/*.swift scripts/fuzz-line-programs/Harness.swift \
    "$work/libUnwindTableFormat.a" -o "$work/fuzz"
for version in 4 5; do
    if [ ! -s "$work/corpus/dwarf$version" ]; then
        printf 'static int twice(int x) { return 2 * x; }\nint main(int c, char **v) {\n  (void)v;\n  return twice(c);\n}\n' > "$work/small.c"
        cc -O0 -g -gdwarf-$version -o "$work/small$version" "$work/small.c"
        objcopy --dump-section .debug_line="$work/corpus/dwarf$version" "$work/small$version"
    fi
done
"$work/fuzz" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus"
