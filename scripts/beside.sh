#!/usr/bin/env bash
# beside.sh "BACKGROUND COMMAND" -- FOREGROUND COMMAND...
# Runs the background command while the foreground one runs (two one-core steps on two cores),
# waits for both, and exits non-zero if either failed (the foreground's status first).
set -uo pipefail
background=$1
shift
[ "${1:-}" = "--" ] && shift
bash -c "$background" &
pid=$!
"$@"
status=$?
wait "$pid"
background_status=$?
[ "$status" -ne 0 ] && exit "$status"
exit "$background_status"
