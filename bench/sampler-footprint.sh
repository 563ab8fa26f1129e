#!/bin/sh
# The sampler's footprint, measured the same way before and after a change:
# the binary's size and what it links (ldd), then its resident memory at a sample
# rate from /proc/PID/smaps, split into heap (anonymous), binary, shared libraries,
# other (stack, vdso) and the BPF maps' mappings (ring buffer, counters), which are
# kernel memory the rate and --ring-buffer-bytes decide and are reported apart.
#
#   swift build -c release --product tandem-sampler
#   bench/sampler-footprint.sh [binary] [hz] [seconds]
#
# Root (the sampler needs CAP_BPF, CAP_PERFMON, CAP_SYSLOG, CAP_SYS_PTRACE). The sampler
# writes a capture to a temporary directory while one busy loop keeps a CPU sampled;
# smaps is read after `seconds` (default 30) at `hz` (default 99).
set -eu

binary=${1:-.build/release/tandem-sampler}
hz=${2:-99}
seconds=${3:-30}
[ -x "$binary" ] || { echo "no sampler at $binary; build it: swift build -c release --product tandem-sampler" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root: the sampler loads BPF programs" >&2; exit 2; }
binary=$(readlink -f "$binary")

echo "binary: $binary"
echo "size: $(stat -c %s "$binary") bytes"
size "$binary" | sed 's/^/  /'
echo "ldd:"
ldd "$binary" | sed 's/ (0x[0-9a-f]*)//; s/^[[:space:]]*/  /'

work=$(mktemp -d)
spinner=
sampler=
cleanup() {
    [ -n "$spinner" ] && kill "$spinner" 2>/dev/null || true
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
sh -c 'while :; do :; done' &
spinner=$!
"$binary" --output "$work/capture" --samples-per-second "$hz" --duration $((seconds + 10)) --log-level warning &
sampler=$!
sleep "$seconds"
kill -0 "$sampler" 2>/dev/null || { echo "the sampler exited early" >&2; exit 1; }
cp "/proc/$sampler/smaps" "$work/smaps"
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile|Threads)' "/proc/$sampler/status" | sed 's/^/  /' > "$work/status"

echo "resident after ${seconds}s at ${hz} Hz (kB, from /proc/$sampler/smaps):"
awk -v binary="$binary" '
    /^[0-9a-f]+-[0-9a-f]+ / {
        path = ""
        for (i = 6; i <= NF; i++) path = path (i > 6 ? " " : "") $i
        if (path ~ /bpf-map|bpf_ringbuf|anon_inode:bpf/) part = "bpf maps"
        else if (path == "" || path == "[heap]") part = "heap"
        else if (path == binary) part = "binary"
        else if (path ~ /^\//) part = "shared libraries"
        else part = "other"
        next
    }
    /^Rss:/ {
        rss[part] += $2
        if (part == "shared libraries") lib[path] += $2
    }
    END {
        total = 0
        split("heap|binary|shared libraries|other|bpf maps", order, "|")
        for (i = 1; i <= 5; i++) {
            printf "  %-17s %8d\n", order[i], rss[order[i]]
            if (order[i] != "bpf maps") total += rss[order[i]]
        }
        printf "  %-17s %8d  (%.1f MiB)\n", "total apart from bpf maps", total, total / 1024
        print "shared libraries, largest first (kB):"
        for (p in lib) if (lib[p] > 0) printf "  %8d %s\n", lib[p], p | "sort -rn"
    }
' "$work/smaps"
echo "status:"
cat "$work/status"
