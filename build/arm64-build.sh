#!/usr/bin/env bash
# Builds the arm64 (aarch64) executables, by running build/build.sh in the Debian 12 arm64 root
# of build/arm64-root.sh under qemu-user (chroot; the kernel's binfmt_misc runs qemu):
#   dist/arm64/hookrun, dist/arm64/hookrun-dir/, dist/arm64/hookrun-static
#   dist/arm64/tests/      for tests/e2e only: app, the static stand-in app of the shell-less
#                          image; sysroot/, the arm64 C libraries the one-file and one-dir builds
#                          load from the system (an arm64 machine has its own; qemu-user finds
#                          them through QEMU_LD_PREFIX)
# Everything is mounted in a private mount namespace (unshare): the source tree read-only at
# /hookrun/src, the work dir (pyi-work/arm64) at /hookrun/work, the host's resolv.conf and CA
# bundle for pip; nothing appears in the host's mount table, and nothing stays mounted when the
# build fails. The build environment (PyInstaller with its aarch64 bootloader) is kept in the
# root, /opt/hookrun-build-venv, and reused while build/requirements.txt is unchanged.
# dist/arm64 is replaced only after a complete build. Runs at nice 10: qemu takes both cores.
# Environment: HOOKRUN_CACHE (see build/arm64-root.sh), HOOKRUN_COMMIT, SOURCE_DATE_EPOCH.
set -euo pipefail
if [ "${1:-}" = --in-root ]; then  # the part that runs in the arm64 root
  bash /hookrun/src/build/build.sh
  tests=$HOOKRUN_DIST/tests
  mkdir -p "$tests/sysroot"
  musl-gcc -static -Os -o "$tests/app" /hookrun/src/tests/e2e/src/app.c
  bundle=$HOOKRUN_DIST/hookrun-dir
  find "$bundle" -type f -perm -u+x -o -type f -name '*.so*' | LD_LIBRARY_PATH=$bundle/_internal \
    xargs ldd 2>/dev/null | grep -o '/[^ ]* (0x' | cut -d' ' -f1 | grep -v "^$bundle/" | sort -u \
    | xargs cp -L --parents -t "$tests/sysroot"
  exit 0
fi
src=$(cd "$(dirname "$0")/.." && pwd)
work=$src/pyi-work/arm64
dist=$src/dist/arm64
say() { echo "arm64-build: $*" >&2; }

root=$(bash "$src/build/arm64-root.sh")
exec 9>"$root.build.lock"
flock 9  # the build environment in the root is not shared by two builds at once
HOOKRUN_COMMIT=${HOOKRUN_COMMIT:-$(git -C "$src" describe --always --dirty --abbrev=12 2>/dev/null || true)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 315532800)}
rm -rf "$work/dist"
mkdir -p "$work" "$root/hookrun/src" "$root/hookrun/work" "$root/opt/hookrun-build-venv"
touch "$root/etc/resolv.conf"

# shellcheck disable=SC2016  # expanded by the inner shell
setup='
set -e
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o size=2g tmpfs "$root/tmp"
mount --bind "$src" "$root/hookrun/src"
mount -o remount,bind,ro "$root/hookrun/src"
mount --bind "$work" "$root/hookrun/work"
mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
mount --bind /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
exec nice -n 10 chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  PIP_DEFAULT_TIMEOUT=180 PYTHONDONTWRITEBYTECODE=1 \
  HOOKRUN_COMMIT="$HOOKRUN_COMMIT" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
  HOOKRUN_WORK=/hookrun/work HOOKRUN_VENV=/opt/hookrun-build-venv HOOKRUN_DIST=/hookrun/work/dist \
  bash /hookrun/src/build/arm64-build.sh --in-root
'
say "build/build.sh in $root (aarch64, under qemu-user)"
root=$root src=$src work=$work HOOKRUN_COMMIT=$HOOKRUN_COMMIT SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH \
  unshare --mount --propagation private sh -c "$setup"

# --- publish ---------------------------------------------------------------------------------------
rm -rf "$dist"
mkdir -p "$(dirname "$dist")"
mv "$work/dist" "$dist"
for f in "$dist/hookrun" "$dist/hookrun-dir/hookrun" "$dist/hookrun-static"; do
  say "$(du -h --apparent-size "$f" | cut -f1)  $f ($(readelf -h "$f" | sed -n 's/ *Machine: *//p'))"
done
