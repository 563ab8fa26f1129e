# Sourced by scripts/run.sh and the benchmarks: builds the release binaries of both
# daemons, sets TANDEM_BIN to their directory, and makes sure the unprivileged
# service user `tandem` exists.

tandem_build_release() {
    swift build -c release --product tandem-sampler
    swift build -c release --product tandem-aggregator
    TANDEM_BIN=$(swift build -c release --show-bin-path)
}

tandem_ensure_user() {
    id tandem >/dev/null 2>&1 \
        || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tandem
}
