#!/usr/bin/env bash
# Runs a test command with its output shown as it comes; when it fails, repeats every
# issue a test recorded (and any crash) at the end, where a CI log's last lines show them:
# a live suite's output runs to thousands of lines, and its failure would otherwise be
# known only as "failed with 1 issue".
#
#   scripts/test-with-summary.sh COMMAND [ARGUMENTS...]
set -uo pipefail
log=$(mktemp /tmp/tandem-test-log.XXXXXX)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "== $1 failed (exit status $status); what failed, again:"
    # An issue's line, and the few lines of detail Swift Testing indents under it.
    awk '/recorded an issue|Fatal error|Crash|error: / { print substr($0, 1, 2000); detail = 6; next }
         detail > 0 && /^ *↳/ { print substr($0, 1, 2000); detail--; next }
         { detail = 0 }' "$log" | tail -n 40
fi
exit "$status"
