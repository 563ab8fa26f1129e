#!/usr/bin/env bash
# Installs what tandem needs to build and test, and nothing that is there already.
# Debian packages: C libraries (libbpf, libelf, libcurl, zlib, snappy, liblzma, zstd),
# the BPF/profiling peers the tests and benchmarks compare against, and the real
# metric stores the exporter tests write into, Debian's python3.11 (the CPython tests also use the
# image's pyenv CPython 3.8 to 3.13, DESIGN.md). Python packages: test peers.
set -euo pipefail

APT_PACKAGES=(
    libbpf-dev libelf-dev libcurl4-openssl-dev zlib1g-dev libsnappy-dev liblzma-dev libzstd-dev libcap-dev
    bpftool linux-perf binutils gcc g++ lintian strace dpkg-dev systemd
    victoria-metrics golang-go erlang-base librsvg2-bin xz-utils
    python3.11 ruby ruby-dev gdb php8.2-cli php8.2-dev
)
# Pinned where the tests decode with them: the OTLP profiles schema is still
# "development" and changes between releases (Sources/OTLPProfilesProto is generated
# from this opentelemetry-proto by scripts/generate-otlp-profiles.sh).
PIP_PACKAGES=(
    opentelemetry-proto==1.45.2 protobuf==7.36.2 grpcio==1.85.1 grpcio-status==1.85.1
    googleapis-common-protos==1.76.0 kubernetes-validate
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

missing_pip=()
for package in "${PIP_PACKAGES[@]}"; do
    name=${package%%==*}
    installed=$(python3 -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
    if [ -z "$installed" ] || { [ "$name" != "$package" ] && [ "$installed" != "${package#*==}" ]; }; then
        missing_pip+=("$package")
    fi
done
if ((${#missing_pip[@]})); then
    echo "install-deps: pip installing ${missing_pip[*]}"
    python3 -m pip install -q --disable-pip-version-check "${missing_pip[@]}"
fi
