#!/usr/bin/env bash
# `make image`: the hookrun image (Dockerfile.example, target `hookrun`: FROM scratch, the
# static build, CA certificates) from the binaries already in dist/, built with buildah and
# tagged IMAGE:VERSION and IMAGE:latest (IMAGE default localhost/hookrun). The base image of
# its helper stage comes from build/base-images.sh (made locally, no registry needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${HOOKRUN_DIST:-$root/dist}
image=${IMAGE:-localhost/hookrun}
mapfile -t bases < <(bash "$root/build/base-images.sh")
context=$(mktemp -d /var/tmp/hookrun-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
bash "$root/build/dist-context.sh" "$context"
version=$("$dist/hookrun-static" version | cut -d' ' -f2)
"$root/build/engine.sh" buildah build --quiet --layers --pull=never "${bases[@]}" \
  --build-context "build=$context" -f "$root/Dockerfile.example" --target hookrun \
  -t "$image:$version" -t "$image:latest" "$root" >/dev/null
echo "$image:$version $image:latest ($("$root/build/engine.sh" podman image inspect \
  --format '{{.Size}}' "$image:latest") bytes)"
