#!/usr/bin/env bash
# Builds Dockerfile.example for linux/arm64 from this source tree and runs the result under
# qemu-user, end to end; exits non-zero if anything fails:
#   1. the arm64 base images (ARCH=arm64 build/base-images.sh: debootstrap, podman import)
#   2. buildah build --platform linux/arm64 of each target in TARGETS (default
#      "hookrun shellless"): the build stage runs build/build.sh under qemu-user
#   3. each image: its architecture is arm64, its hookrun is a static aarch64 ELF, and
#      `hookrun version --check` passes in a container (the binary emulated by qemu-user);
#      the shell-less image also validates its baked-in config
# The images are tagged $IMAGE/<target>:latest (IMAGE default localhost/hookrun-arm64). Builds
# use --layers: a run whose sources are unchanged reuses the previous build stage; any change
# in the build context builds it all again (most of the time is PyInstaller's bootloader and
# staticx compiled under qemu). Slow (README, "Architectures"): not part of CI.
# Needs root, podman/buildah (build/engine.sh), debootstrap and the qemu-aarch64 binfmt handler
# with the F flag (build/arm64-root.sh sets it up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=${IMAGE:-localhost/hookrun-arm64}
targets=${TARGETS:-hookrun shellless}
engine() { nice -n 10 bash "$root/build/engine.sh" "$@"; }
say() { echo "check-arm64-image: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
started=$SECONDS
cleanup=()
trap 'for c in "${cleanup[@]}"; do $c >/dev/null 2>&1 || true; done' EXIT

# --- 1. base images ------------------------------------------------------------------------------
t=$SECONDS
mapfile -t bases < <(ARCH=arm64 nice -n 10 bash "$root/build/base-images.sh")
[ ${#bases[@]} -eq 3 ] || fail "build/base-images.sh printed no build arguments"
say "base images ready ($((SECONDS - t)) s)"

# --- 2. the images, from source ------------------------------------------------------------------
stamp=(--build-arg "HOOKRUN_COMMIT=$(git -C "$root" describe --always --abbrev=12 2>/dev/null || echo unknown)"
       --build-arg "SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 315532800)")
for target in $targets; do
  t=$SECONDS
  say "buildah build --platform linux/arm64 --target $target"
  engine buildah build --platform linux/arm64 --network host --pull=never --layers "${bases[@]}" \
    "${stamp[@]}" -f "$root/Dockerfile.example" --target "$target" -t "$image/$target:latest" "$root" \
    || fail "the $target image did not build"
  say "$image/$target:latest built ($((SECONDS - t)) s)"
done

# --- 3. what is in them, and that it runs ----------------------------------------------------------
elf() {  # IMAGE PATH: "<machine> static" or "<machine> dynamic" for the ELF file PATH in IMAGE
  local c mnt machine link=static
  c=$(engine buildah from --quiet --pull=never --arch arm64 "$1")
  cleanup+=("bash $root/build/engine.sh buildah rm $c")
  mnt=$(engine buildah mount "$c")
  machine=$(readelf -h "$mnt$2" | sed -n 's/^ *Machine: *//p')
  ! readelf -lW "$mnt$2" | grep -q ' INTERP ' || link=dynamic
  engine buildah umount "$c" >/dev/null
  echo "${machine:-not ELF} $link"
}
for target in $targets; do
  ref=$image/$target:latest
  platform=$(engine podman image inspect --format '{{.Os}}/{{.Architecture}}' "$ref")
  [ "$platform" = linux/arm64 ] || fail "$ref is $platform"
  what=$(elf "$ref" /usr/local/bin/hookrun)
  say "$ref: /usr/local/bin/hookrun: $what"
  [ "$what" = "AArch64 static" ] || fail "$ref: hookrun is not a static aarch64 executable"
  t=$SECONDS
  out=$(engine podman run --rm --pull=never --platform linux/arm64 --entrypoint /usr/local/bin/hookrun \
    "$ref" version --check 2>&1) || { echo "$out" >&2; fail "$ref: hookrun version --check"; }
  echo "$out" | sed "s|^|  $target: |" >&2
  case $(echo "$out" | head -n1) in "hookrun "*"(static, "*) ;; *) fail "$ref: not the static build" ;; esac
  say "$ref: version --check passed under qemu-user ($((SECONDS - t)) s)"
  if [ "$target" = shellless ]; then
    what=$(elf "$ref" /app)
    [ "$what" = "AArch64 static" ] || fail "$ref: /app is $what"
    engine podman run --rm --pull=never --platform linux/arm64 --entrypoint /usr/local/bin/hookrun \
      "$ref" validate >&2 || fail "$ref: hookrun validate"
  fi
done
say "ok: ${targets// /, } for linux/arm64 ($((SECONDS - started)) s)"
