#!/usr/bin/env bash
# Makes (or reuses) a Debian 12 arm64 root in which build/build.sh runs under qemu-user, and
# prints its path:
#   ${HOOKRUN_CACHE:-/var/cache/hookrun}/arm64-root-<key>
# <key> is a hash of the package list and of this script, so a change of either makes a new
# root. debootstrap runs in a temporary directory next to it, in a private mount namespace (the
# /proc and /dev it mounts vanish with it), and the finished root is renamed into place: an
# interrupted run never leaves a half root that a later run would reuse.
# Also makes sure the host can run aarch64 programs: qemu-user-static, binfmt-support and
# debootstrap installed (as root), binfmt_misc mounted, the qemu-aarch64 handler enabled with
# the F flag (the kernel opens qemu once, so it runs inside a chroot that has no qemu).
# Environment: HOOKRUN_CACHE, DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
script=$(readlink -f "$0")
cache=${HOOKRUN_CACHE:-/var/cache/hookrun}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# what build/build.sh needs; scons: staticx has no aarch64 wheel and builds from source with it;
# musl-tools: staticx's bootloader, and the static test program of the shell-less image
packages=python3,python3-venv,python3-dev,python3-pip,gcc,libc6-dev,zlib1g-dev,binutils,patchelf,ca-certificates,scons,musl-tools
say() { echo "arm64-root: $*" >&2; }

# --- the host: qemu-user, binfmt_misc, debootstrap (an arm64 host runs the root natively) ------------
native=$([ "$(uname -m)" = aarch64 ] && echo yes || echo no)
need=()
for pkg in debootstrap $([ "$native" = yes ] || echo qemu-user-static binfmt-support); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "missing Debian packages: ${need[*]} (run as root, or install them)"; exit 1; }
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# the kernel runs aarch64 programs through qemu: binfmt_misc mounted, the handler registered with F
register_qemu() {
  local binfmt=/proc/sys/fs/binfmt_misc handler=/proc/sys/fs/binfmt_misc/qemu-aarch64 magic mask
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
  if ! grep -qx enabled "$handler" 2>/dev/null; then
    update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  if ! grep -q '^flags: .*F' "$handler" 2>/dev/null; then
    # registered without F (by hand, or by another tool): again, as Debian defines it
    # (/usr/share/binfmts/qemu-aarch64: preserve argv[0], fix binary)
    [ -e "$handler" ] && echo -1 > "$handler"
    magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    echo ":qemu-aarch64:M::$magic:$mask:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PF" > "$binfmt/register"
  fi
  grep -q '^flags: .*F' "$handler" || { say "the qemu-aarch64 binfmt handler has no F flag: $(cat "$handler")"; exit 1; }
}
[ "$native" = yes ] || register_qemu

# --- the root --------------------------------------------------------------------------------------
key=$( { echo "$suite $packages"; cat "$script"; } | sha256sum | cut -c1-16)
root=$cache/arm64-root-$key
mkdir -p "$cache"
exec 9>"$cache/arm64-root.lock"
flock 9  # one creator at a time; the others then find the finished root
if [ ! -x "$root/usr/bin/python3" ]; then
  # leftovers of interrupted runs: their mount namespaces are gone with them
  find "$cache" -maxdepth 1 -name 'arm64-root-*.tmp.*' -exec rm -rf --one-file-system {} +
  tmp=$cache/arm64-root-$key.tmp.$$
  say "creating $root with debootstrap (takes several minutes under qemu)"
  started=$(date +%s)
  unshare --mount --propagation private \
    nice -n 10 debootstrap --arch=arm64 --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" \
    > "$cache/arm64-root-$key.log" 2>&1 \
    || { say "debootstrap failed; see $cache/arm64-root-$key.log"; tail -n 20 "$cache/arm64-root-$key.log" >&2; exit 1; }
  rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"*_Packages
  mv -T "$tmp" "$root"
  say "created $root in $(( $(date +%s) - started )) s"
fi
echo "$root"
