#!/usr/bin/env bash
# Builds the demo workload into DIR (default .build-demo): tandem-demo and
# libtandemdemo.so, with frame pointers so that frame-pointer unwinding works.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../.build-demo}
mkdir -p "$out"
cc -O2 -g -fno-omit-frame-pointer -fPIC -shared -o "$out/libtandemdemo.so" "$here/libtandemdemo.c"
cc -O2 -g -fno-omit-frame-pointer -pthread -o "$out/tandem-demo" "$here/tandem-demo.c" \
    -L"$out" -ltandemdemo -Wl,-rpath,'$ORIGIN'
echo "$out/tandem-demo"
