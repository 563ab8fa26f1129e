#!/usr/bin/env bash
# What loading tandem's BPF object costs the sampler at start: for each program, the
# instructions the kernel's verifier processed (its limit is 1M per program) and its
# verification time, as the kernel reports them in the load log (log level 4, stats).
# Each interpreter walker is a program in an object of its own (bpf/*_walker.bpf.c), so each
# has its own budget; the sampler loads them after it has started sampling
# (InterpreterLoading's WalkerPrograms), so only the sampling object's time delays its start.
#
#   bench/bpf-verifier-cost.sh        (root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
objects=()
for source in "$root"/bpf/*.bpf.c; do
    object="$work/$(basename "$source" .c).o"
    clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I"$root/bpf" \
        -c "$source" -o "$object"
    objects+=("$object")
done
# A loader that asks for the verifier's statistics and prints libbpf's log.
cat > "$work/load.c" <<'C'
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
static int print(enum libbpf_print_level level, const char *format, va_list arguments)
{
    return vfprintf(stderr, format, arguments);
}
int main(int argc, char **argv)
{
    libbpf_set_print(print);
    LIBBPF_OPTS(bpf_object_open_opts, options, .kernel_log_level = 4);
    struct bpf_object *object = bpf_object__open_file(argv[1], &options);
    if (!object)
        return 1;
    int error = bpf_object__load(object);
    bpf_object__close(object);
    return error != 0;
}
C
gcc -O2 -o "$work/load" "$work/load.c" -lbpf
# Each object alone (a walker's maps are then its own, which costs the verifier the same).
for object in "${objects[@]}"; do
    "$work/load" "$object" 2>> "$work/log.txt" || { tail -40 "$work/log.txt" >&2; exit 1; }
done
awk '
    /prog .*-- BEGIN PROG LOAD LOG --/ { match($0, /prog '\''[^'\'']+'\''/); name = substr($0, RSTART + 6, RLENGTH - 7) }
    /^verification time/ { time[name] = $3 / 1e6 }
    /^processed/ { insns[name] = $2; order[++n] = name }
    END {
        printf "| program | instructions processed | verification s |\n|---|---:|---:|\n"
        for (i = 1; i <= n; i++) { total += time[order[i]]; printf "| %s | %d | %.2f |\n", order[i], insns[order[i]], time[order[i]] }
        printf "| all | | %.2f |\n", total
    }' "$work/log.txt"
