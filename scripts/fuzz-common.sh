# What the libFuzzer scripts (fuzz-sampling-rate-reader.sh, fuzz-unwind-table-validator.sh,
# fuzz-file-requests.sh) do alike; sourced from the repository's root. Not run on its own.

# fuzz_module DIR NAME SOURCES...: NAME as an instrumented static library and its module in
# DIR, compiled with the caller's "${flags[@]}".
fuzz_module() {
    local dir=$1 name=$2
    shift 2
    swiftc "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$dir/$name.swiftmodule" \
        -emit-library -static -o "$dir/lib$name.a" "$@"
}

# fuzz_run SCRIPT FUZZER SECONDS ARTIFACTS OPTIONS... -- CORPORA...: runs FUZZER for SECONDS
# (an input that runs 10 s is a finding, unless OPTIONS set -timeout; -rss_limit_mb is the
# process's, ASan included; -malloc_limit_mb any one allocation), leaving a failing input in
# ARTIFACTS/. Exits with the fuzzer's status on any finding, naming the file to reproduce it.
fuzz_run() {
    local script=$1 fuzzer=$2 seconds=$3 artifacts=$4 status=0
    shift 4
    local options=()
    while [ "$1" != -- ]; do options+=("$1"); shift; done
    shift
    echo "$script: running for ${seconds}s" >&2
    SWIFT_BACKTRACE=enable=no "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
        -malloc_limit_mb=64 "${options[@]}" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$script: FAILED (status $status); reproduce with: $fuzzer $artifacts/<file>" >&2
        exit "$status"
    fi
    echo "$script: no crash in ${seconds}s" >&2
}
