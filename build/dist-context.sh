#!/usr/bin/env bash
# Lays out already built binaries the way Dockerfile.example's `build` stage has them, so that
# a build can use them instead of compiling (`--build-context build=DIR`):
#   DIR/src/dist/hookrun-dir/, DIR/src/dist/hookrun-static    from dist/ (`make binary`)
#   DIR/src/dist/app                                           APP, when given (`shellless`)
#   DIR/etc/ssl/certs/ca-certificates.crt                      this machine's CA bundle
# Usage: build/dist-context.sh DIR [APP]. Environment: HOOKRUN_DIST (default dist/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${HOOKRUN_DIST:-$root/dist}
out=${1:?usage: build/dist-context.sh DIR [APP]}
for f in hookrun-dir/hookrun hookrun-static; do
  [ -x "$dist/$f" ] || { echo "dist-context: $dist/$f is missing (run make binary)" >&2; exit 1; }
done
rm -rf "$out/src/dist"
mkdir -p "$out/src/dist" "$out/etc/ssl/certs"
cp -a "$dist/hookrun-dir" "$dist/hookrun-static" "$out/src/dist/"
[ -z "${2:-}" ] || cp "$2" "$out/src/dist/app"
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
