#!/usr/bin/env bash
# Fuzzes the unwind-table compiler (Sources/UnwindTableCompiler) and the shared ELF reader it
# and symbolization use (Sources/ELF) with libFuzzer for N seconds.
#   scripts/fuzz-unwind-tables.sh [SECONDS]      (default 60)
# Seeds: a small C program built here (also with a compressed .debug_frame), /usr/bin/true.
# Exits non-zero, leaving the crashing input in .build/fuzz-unwind-tables/, if an input traps.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work=.build/fuzz-unwind-tables
mkdir -p "$work/corpus"
# The ELF reader and the table format as modules of their own (instrumented too), as in
# `swift build`; the compiler with the harness inside it on top.
swiftc -O -sanitize=fuzzer -parse-as-library -package-name tandem -module-name ELF \
    -emit-module -emit-module-path "$work/ELF.swiftmodule" \
    -emit-library -static -o "$work/libELF.a" Sources/ELF/*.swift
swiftc -O -sanitize=fuzzer -parse-as-library -package-name tandem -module-name UnwindTableFormat \
    -emit-module -emit-module-path "$work/UnwindTableFormat.swiftmodule" \
    -emit-library -static -o "$work/libUnwindTableFormat.a" Sources/UnwindTableFormat/*.swift
swiftc -O -sanitize=fuzzer -parse-as-library -package-name tandem -module-name UnwindTableCompiler -I "$work" \
    Sources/UnwindTableCompiler/*.swift scripts/fuzz-unwind-tables/Harness.swift \
    "$work/libUnwindTableFormat.a" "$work/libELF.a" -o "$work/fuzz"
if [ ! -e "$work/corpus/small" ]; then
    printf 'int twice(int x) { return 2 * x; }\nint main(int c, char **v) { (void)v; return twice(c); }\n' > "$work/small.c"
    cc -O2 -fomit-frame-pointer -o "$work/corpus/small" "$work/small.c"
    cp /usr/bin/true "$work/corpus/true"
fi
if [ ! -e "$work/corpus/small-zdebug" ]; then
    # .debug_frame only, compressed: the harness's stored decompressor reads zlib bytes as CFI.
    cc -O2 -g -fno-asynchronous-unwind-tables -o "$work/small-debug" "$work/small.c"
    objcopy --compress-debug-sections=zlib "$work/small-debug" "$work/corpus/small-zdebug"
fi
"$work/fuzz" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus"
