#!/bin/sh
# Counts the privileged code: every line of this repository that tandem-sampler runs,
# by part, as non-blank, non-comment lines (//, ///, /* ... */ and the lines between
# are comments). Prints the Markdown table docs/security.md holds; re-run it after a
# change and paste the table there.
#
#   scripts/privileged-lines.sh
set -eu
cd "$(dirname "$0")/.."

# Non-blank, non-comment lines of the files given.
count() {
    awk '
        { line = $0 }
        in_block { if (line ~ /\*\//) { in_block = 0; sub(/^.*\*\//, "", line) } else next }
        {
            # A block comment that opens on this line (and may close on it).
            while (match(line, /\/\*/)) {
                rest = substr(line, RSTART + 2)
                if (match(rest, /\*\//)) { line = substr(line, 1, index(line, "/*") - 1) substr(rest, RSTART + 2) }
                else { line = substr(line, 1, index(line, "/*") - 1); in_block = 1; break }
            }
            sub(/^[ \t]*\/\/.*$/, "", line)
            if (line ~ /[^ \t]/) n++
        }
        END { print n + 0 }
    ' "$@"
}

core=0
commands=0
all=0
row() {  # part, what it parses, which inputs reach it, files...
    part=$1; parses=$2; inputs=$3; shift 3
    lines=$(count "$@")
    files=$(for f in "$@"; do case "$f" in Sources/*/*.swift) dirname "$f" ;; *) echo "$f" ;; esac; done | uniq | tr '\n' ' ' | sed 's/ $//')
    printf '| %s | %s | %s | %s | `%s` |\n' "$part" "$lines" "$parses" "$inputs" "$files"
    all=$((all + lines))
}

echo '| part | lines | what it parses | which inputs reach it | files |'
echo '|---|---:|---|---|---|'
row "command line" "options (swift-argument-parser)" "the command line, from root" Sources/sampler/*.swift
commands=$(count Sources/sampler/*.swift)
row "core: sampling, process tracking, streaming, privileges" \
    "/proc/kallsyms, /proc/modules, /proc/PID/{stat,comm,cgroup,maps}, sysfs CPU lists (kernel-written text); ring-buffer records (C structs; a plain sample cut to its stacks); the control stream's records (after ControlDecoder)" \
    "the kernel; the aggregator's control records; the configuration file through SamplingRateReader" \
    Sources/SamplerCore/*.swift
core=$((core + $(count Sources/SamplerCore/*.swift)))
row "core: BPF program and the structs it shares" "nothing: fills records with helper results" "the sampled task's registers and stack (bpf_get_stack)" \
    bpf/sampler.bpf.c bpf/sample_common.bpf.h bpf/tandem_sampler.h
core=$((core + $(count bpf/sampler.bpf.c bpf/sample_common.bpf.h bpf/tandem_sampler.h)))
row "core: C shim (libbpf, perf, sockets)" "nothing" "arguments from the Swift side" Sources/CTandemBPF/shim.h Sources/CTandemBPF/module.modulemap
core=$((core + $(count Sources/CTandemBPF/shim.h Sources/CTandemBPF/module.modulemap)))
row "optional: unwind-table loading" "serialized unwind tables and mappings (after UnwindTableFormat's validator)" "the aggregator's control records" \
    Sources/UnwindTableLoading/*.swift
row "optional: the BPF table unwinder and its structs" "the loaded tables; user stack words through bpf_probe_read_user" "the sampled task's registers and stack; the tables the loader accepted" \
    bpf/unwind_tables.bpf.h bpf/tandem_unwind.h
row "optional: descriptor passing" "nothing: opens a path read from /proc/PID/maps inside /proc/PID/root, fstat, passes the descriptor unread (fuzzed)" "the aggregator's file requests (pid, range, device, inode)" \
    Sources/DescriptorPassing/*.swift Sources/CTandemPaths/shim.h Sources/CTandemPaths/module.modulemap
row "optional: interpreter loading (the protocol every runtime's loader follows, the kernel's mapping query)" "nothing: PROCMAP_QUERY answers (fixed C structs)" "a loader's address to check" \
    Sources/InterpreterLoading/*.swift Sources/InterpreterRuntimes/*.swift
row "optional: the BPF interpreter dispatch (which walker takes a sample), the runtimes' numbering, what walkers share" "nothing: one map lookup (pid to runtime)" "the sampled pid" \
    bpf/interpreters.bpf.h bpf/tandem_interpreters.h bpf/walker_common.bpf.h
row "optional: CPython process loading" "nothing: checks the aggregator's record 19 against the process's mappings (PROCMAP_QUERY)" "the aggregator's control records (pid, version, address, device, inode)" \
    Sources/CPythonLoading/*.swift
row "optional: the BPF CPython walker and its structs" "interpreter structures through bpf_probe_read_user, at the sampler's own per-version offsets" "the memory of processes the loader accepted" \
    bpf/cpython_walker.bpf.c bpf/cpython.bpf.h bpf/tandem_cpython.h
row "optional: Perl process loading" "nothing: checks the aggregator's record 25 against the process's mappings (PROCMAP_QUERY)" "the aggregator's control records (pid, release, address, device, inode)" \
    Sources/PerlLoading/*.swift
row "optional: the BPF Perl walker and its structs" "interpreter structures through bpf_probe_read_user, at the sampler's own per-release offsets" "the memory of processes the loader accepted" \
    bpf/perl_walker.bpf.c bpf/perl.bpf.h bpf/tandem_perl.h
row "optional: Ruby process loading" "nothing: checks the aggregator's record 27 against the process's mappings (PROCMAP_QUERY); copies the walker's ring records" "the aggregator's control records (pid, version, GOT address, TLS offset, device, inode, symbol table address)" \
    Sources/RubyLoading/*.swift
row "optional: the BPF Ruby walker and its structs" "VM structures through bpf_probe_read_user, at the sampler's own per-version offsets" "the memory of processes the loader accepted" \
    bpf/ruby_walker.bpf.c bpf/ruby.bpf.h bpf/tandem_ruby.h
row "optional: PHP process loading" "nothing: checks the aggregator's record 29 against the process's mappings (PROCMAP_QUERY); copies the walker's ring records" "the aggregator's control records (pid, version, address, device, inode; the JIT step's dispatch address, CFA offset and JIT buffer)" \
    Sources/PHPLoading/*.swift
row "optional: the BPF PHP walker and its structs" "engine structures through bpf_probe_read_user, at the sampler's own per-version offsets; under the JIT, one stack word and 8 code bytes per JIT frame" "the memory of processes the loader accepted" \
    bpf/php_walker.bpf.c bpf/php_unwind.bpf.h bpf/php.bpf.h bpf/tandem_php.h
row "optional: V8 process loading" "nothing: checks the aggregator's record 23 against the process's mappings (PROCMAP_QUERY)" "the aggregator's control records (pid, V8 build, address, device, inode)" \
    Sources/V8Loading/*.swift
row "optional: the BPF V8 walker and its structs" "the rbp chain and V8 heap objects through bpf_probe_read_user, at the sampler's own per-build offsets" "the memory of processes the loader accepted" \
    bpf/v8_walker.bpf.c bpf/v8.bpf.h bpf/tandem_v8.h bpf/tandem_v8_layout.h
row "optional: JVM process loading" "nothing: checks the aggregator's record 21 against the process's mappings (PROCMAP_QUERY); copies the walker's method and code records" "the aggregator's control records (pid, version, two addresses, device, inode); the walker's ring records" \
    Sources/HotSpotLoading/*.swift
row "optional: the BPF JVM walker and its structs" "HotSpot structures through bpf_probe_read_user, at the sampler's own per-version offsets" "the memory of processes the loader accepted" \
    bpf/jvm_walker.bpf.c bpf/hotspot_unwind.bpf.h bpf/hotspot.bpf.h bpf/hotspot_records.bpf.h bpf/tandem_hotspot.h
row "optional: BEAM process loading" "nothing: checks the aggregator's record 31 against the process's mappings (PROCMAP_QUERY); copies the walker's ring records" "the aggregator's control records (pid, ERTS major, nine addresses, device, inode); the walker's ring records" \
    Sources/BEAMLoading/*.swift
row "optional: the BPF BEAM walker and its structs" "VM structures and Erlang stack words through bpf_probe_read_user, at the sampler's own per-ERTS-major offsets" "the memory of processes the loader accepted" \
    bpf/beam_walker.bpf.c bpf/beam.bpf.h bpf/tandem_beam.h
row "optional: off-CPU attachment" "nothing: sets the threshold and attaches the program" "--off-cpu-threshold or the configuration's off_cpu_threshold, from root" \
    Sources/OffCPULoading/*.swift
row "optional: the BPF off-CPU program" "nothing: fills the same fixed records as a sample, at a chosen switch off the CPU" "the switching task's registers and stack (bpf_get_stack, the table unwinder)" \
    bpf/offcpu.bpf.h
row "shared: CPython layouts (per-version offsets, generated)" "nothing: constants" "none" \
    Sources/CPythonLayouts/*.swift
row "shared: HotSpot layouts (per-version offsets, generated)" "nothing: constants" "none" \
    Sources/HotSpotLayouts/*.swift
row "shared: Perl layouts (per-release offsets, generated)" "nothing: constants" "none" \
    Sources/PerlLayouts/*.swift
row "shared: Ruby layouts (per-version offsets, generated)" "nothing: constants" "none" \
    Sources/RubyLayouts/*.swift
row "shared: PHP layouts (per-version offsets, generated)" "nothing: constants" "none" \
    Sources/PHPLayouts/*.swift
row "shared: V8 layouts (per-build offsets, generated)" "nothing: constants" "none" \
    Sources/V8Layouts/*.swift
row "shared: BEAM layouts (per-ERTS-major offsets, generated)" "nothing: constants" "none" \
    Sources/BEAMLayouts/*.swift
row "shared: wire format (records, stream encoder, control-record decoder)" "the control stream: length-framed records, every length and count bounded" "the aggregator's socket" \
    Sources/WireFormat/*.swift
row "shared: unwind-table format and validator" "serialized tables (sizes, sorted offsets, rule words)" "the aggregator's control records" \
    Sources/UnwindTableFormat/*.swift
row "shared: system calls (FileDescriptor, FileType, PathStatus, SystemCallError)" "nothing" "arguments from the Swift side" Sources/SystemCalls/*.swift
row "configuration: SamplingRateReader" "two keys of the YAML configuration (the rate, the off-CPU threshold), a strict block-style subset (fuzzed)" "--config FILE, read as root before capabilities are dropped" \
    Sources/SamplingRateReader/*.swift
echo
echo "Core (sampling, process tracking, streaming, privileges, with its BPF and C shim): $core lines;"
echo "with the command line: $((core + commands)) lines."
echo "Everything tandem-sampler links from this repository: $all lines."
