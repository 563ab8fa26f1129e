#!/usr/bin/env bash
# Fuzzes how tandem-sampler, as root, answers the aggregator's file requests (control
# record 15): FileRequestAnswerer.answer (Sources/DescriptorPassing), which resolves the
# mapped path inside /proc/PID/root with openat2(RESOLVE_IN_ROOT) as O_PATH, checks it with
# fstat and only then opens it read-only for the less-trusted aggregator, within the
# in-flight and per-second bounds. Runs libFuzzer for a bounded time.
#
#   scripts/fuzz-file-requests.sh [SECONDS]        (default 60)
#
# Builds WireFormat and SystemCalls as `swift build` does (CTandemBPF and CTandemPaths from
# their module maps) with ASan + libFuzzer, and Fuzz/FileRequestFuzzTarget.swift inside
# DescriptorPassing, so that the answerer runs against a fake /proc the target builds in a
# scratch directory (removed on exit): per process a root with a mode-000 file, a hard link,
# links to /etc/shadow, out of the root and in a loop, a FIFO, a directory, a device (where
# mknod is allowed), `..` paths and a file replaced after its mapping was read; an exited
# process; a root that is not a directory. Each input (Fuzz/FileRequestFuzzInput.swift) is a
# set of known mappings and a run of requests: exact, one field off or random, with the
# descriptors in flight and a clock that may jump. Checked after every answer: a descriptor
# only with `attached`, and then read-only, close-on-exec, of a regular file inside that
# process's root with exactly the requested mapping's device and inode; the status the tree
# calls for (never attached for a FIFO, directory, device, link out of the root, relative
# path, inode 0 or unknown mapping; busy exactly as the limits say); requests == sent +
# refused; no watched FIFO, device or outside file opened (inotify); no descriptor leaked.
# Seeds: one input per branch (Fuzz/FileRequestSeedCorpus.swift). Exits non-zero on any
# crash, sanitizer report, broken invariant, timeout (an open that blocks) or memory blow-up;
# the input that caused it is left in .build-fuzz/file-requests-artifacts/.
# Reproduce with .build-fuzz/file-requests-fuzzer FILE (its fake /proc stays in $TMPDIR).
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
. scripts/fuzz-common.sh
out=.build-fuzz
modules="$out/file-requests-modules"
mkdir -p "$modules" "$out/file-requests-corpus" "$out/file-requests-artifacts"

echo "fuzz-file-requests: building the fuzz target and the seed generator" >&2
flags=(-swift-version 6 -sanitize=fuzzer,address -parse-as-library -O -package-name tandem -I "$modules"
    -I Sources/CTandemBPF -I Sources/CTandemPaths)
fuzz_module "$modules" WireFormat Sources/WireFormat/*.swift
fuzz_module "$modules" SystemCalls Sources/SystemCalls/*.swift
swiftc "${flags[@]}" -use-ld=lld -module-name DescriptorPassing \
    Sources/DescriptorPassing/*.swift Fuzz/FileRequestFuzzInput.swift Fuzz/FileRequestFuzzTarget.swift \
    "$modules/libSystemCalls.a" "$modules/libWireFormat.a" -o "$out/file-requests-fuzzer"
# The seed generator, uninstrumented, needs only the input format.
swiftc -swift-version 6 -parse-as-library -O \
    Fuzz/FileRequestFuzzInput.swift Fuzz/SeedFile.swift Fuzz/FileRequestSeedCorpus.swift -o "$out/file-request-seeds"
rm -rf "$out/file-requests-seeds"
"$out/file-request-seeds" "$out/file-requests-seeds" >&2

# The fake /proc goes in a scratch directory of our own, removed however the run ends.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-file-requests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# -timeout: an answer that blocks (a FIFO opened for reading) is a finding within seconds.
# -rss_limit_mb (the process, ASan included) and -malloc_limit_mb (any single allocation):
# an input holds at most 7 mappings and 31 requests; exceeding either is a finding.
TMPDIR="$scratch" fuzz_run fuzz-file-requests "$out/file-requests-fuzzer" "$seconds" "$out/file-requests-artifacts" \
    -timeout=5 -max_len=4096 -- "$out/file-requests-corpus" "$out/file-requests-seeds"
