#!/usr/bin/env bash
# End-to-end demo: a real nginx, serving a slow download, shut down gracefully by the real
# hookrun with config/nginx.toml. Everything runs on 127.0.0.1 and is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/hookrun-demo.XXXXXX)
started=()
cleanup() {
  for pid in "${started[@]}"; do kill -9 -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)

# nginx with its own prefix and port; started through a link called nginx-demo, so that every
# process of it has that name and the wait below never waits for another nginx on this machine
mkdir -p "$work/html/slow" "$work/tmp" "$work/bin"
head -c 700000 /dev/urandom > "$work/html/slow/big.bin"
{ [ "$(id -u)" = 0 ] && echo "user root;"; sed -e "s|@PREFIX@|$work|g" -e "s|@PORT@|$port|g" "$here/nginx.conf"; } > "$work/nginx.conf"
ln -s "$(command -v nginx || echo /usr/sbin/nginx)" "$work/bin/nginx-demo"

export HOOKRUN_CONFIG="$here/../config/nginx.toml" HOOKRUN_LOG_TARGET=stderr HOOKRUN_GRACE_PERIOD=15s
export HOOKRUN_STATE_DIR="$work/state" NGINX_PORT="$port" NGINX_PIDFILE="$work/nginx.pid"
# no Kubernetes API here (and none is used even where one is): the endpoint-aware wait fails at
# once and the traffic-based one waits for new connections to stop, at least ENDPOINT_GRACE
export NGINX_PROCESS=nginx-demo ENDPOINT_GRACE=500ms KUBERNETES_SERVICE_HOST=

echo "== hookrun validate"; hookrun validate
echo; echo "== hookrun plan prestop"; hookrun plan prestop
echo; echo "== start nginx on 127.0.0.1:$port, run poststart next to it (as the kubelet does)"
setsid "$work/bin/nginx-demo" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" & started+=($!)
hookrun poststart
setsid python3 "$here/peers.py" download "http://127.0.0.1:$port/slow/big.bin" "$work/flowing" & client=$!
started+=("$client")
for _ in $(seq 100); do [ -e "$work/flowing" ] && break; sleep 0.05; done

echo; echo "== pod deleted: hookrun prestop (a download is in flight)"
set +e; hookrun prestop; code=$?; set -e
wait "$client"; client_code=$?
echo; echo "== prestop exit code: $code"
if pgrep -x nginx-demo >/dev/null; then echo "nginx still running: demo failed" >&2; exit 1; fi
echo "== no nginx process left; the download in flight was $([ "$client_code" = 0 ] && echo completed || echo CUT SHORT)"
[ "$client_code" = 0 ] && exit "$code"
exit 1
