#!/usr/bin/env bash
# Regenerates the code-record fixtures (code-3.X.json) of CPythonSymbolizationTests:
# dump_code.py run under each pyenv CPython, and under Debian's /usr/bin/python3.11
# (code-3.11-debian.json). Run from anywhere; the fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")"
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}
# Run from a fixed place: 3.9+ make the script's co_filename absolute, and the fixtures
# should not name the checkout they were made in.
run=/tmp/tandem-cpython-fixtures
mkdir -p "$run"
cp dump_code.py "$run/dump_code.py"
for version in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
    minor=${version%.*}
    "$PYENV_ROOT/versions/$version/bin/python$minor" "$run/dump_code.py" > "code-$minor.json"
done
/usr/bin/python3.11 "$run/dump_code.py" > code-3.11-debian.json
ls -l code-*.json
