#!/usr/bin/env bash
# Installs the container engine the image tests and `make image` use, when it is missing:
# podman and buildah (Debian 12: podman 4.3, buildah 1.28) with runc as the OCI runtime, and
# debootstrap for the local base images (build/base-images.sh). Nothing system-wide is
# configured: every call of the project passes build/containers.conf and build/storage.conf
# (see build/engine.sh).
set -euo pipefail
need=()
for pkg in podman buildah runc conmon debootstrap ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root, or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# no recommends: no fuse-overlayfs, slirp4netns or dbus (root, kernel overlay, no network)
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
