#!/usr/bin/env bash
# End-to-end demo: a real app process with real hooks run by the real hookrun.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/hookrun-demo.XXXXXX)
trap 'kill "$app" 2>/dev/null || true; rm -rf "$work"' EXIT
export HOOKRUN_CONFIG="$here/../config/logfile.toml" HOOKRUN_LOG_TARGET=stderr
export APP_PIDFILE="$work/app.pid" APP_LIFECYCLE_LOG="$work/lifecycle.log"
export HOOKRUN_STATE_DIR="$work/state" ENDPOINT_GRACE=1s

echo "== hookrun validate"; hookrun validate
echo; echo "== hookrun plan prestop"; hookrun plan prestop
echo; echo "== start the app, run poststart next to it (as the kubelet does)"
python3 "$here/app.py" "$APP_PIDFILE" & app=$!
hookrun poststart
echo; echo "== pod deleted: hookrun prestop"
set +e; hookrun prestop; code=$?; set -e
wait "$app" 2>/dev/null || true
echo; echo "== prestop exit code: $code"
echo "== lifecycle log:"; cat "$APP_LIFECYCLE_LOG"
if kill -0 "$app" 2>/dev/null; then echo "app still running: demo failed" >&2; exit 1; fi
exit "$code"
