#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo use, when they are missing.
set -euo pipefail
need=()
for pair in nginx:nginx-light ip:iproute2 nft:nftables unshare:util-linux pkill:procps killall:psmisc openssl:openssl curl:curl haproxy:haproxy php-fpm8.2:php8.2-fpm; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
# the binary build (build/build.sh; scons and musl-tools build staticx's bootloader) and the tests of the built binaries in containers (tests/e2e);
# the container engine of the image tests and `make image` (podman 4.3, buildah 1.28, runc;
# debootstrap for the local base images). Nothing system-wide is configured: every call of the
# project passes build/containers.conf and build/storage.conf (build/engine.sh).
for pkg in python3-venv python3-dev zlib1g-dev gcc libc6-dev binutils patchelf crun musl-tools scons \
           podman buildah runc conmon debootstrap ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The tests start nginx processes of their own, on ports of their own: an nginx service the
# package may have started is left alone.
