#!/usr/bin/env bash
# Builds the committed tree twice, from scratch, in two different directories (each with its
# own build environment, so PyInstaller's bootloader is compiled twice too), and compares the
# bytes: the one-file executable and every file of the one-dir build must be identical.
# (The staticx build is not compared: staticx output is never bit-identical.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/hookrun-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
# the exported trees have no .git: pass the commit's stamp and time as a checkout would give them
HOOKRUN_COMMIT=$(git -C "$root" describe --always --abbrev=12)
SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct)
export HOOKRUN_COMMIT SOURCE_DATE_EPOCH
for n in 1 2; do
  mkdir -p "$work/src$n"
  git -C "$root" archive HEAD | tar -x -C "$work/src$n"
  echo "check-reproducible: build $n of 2 in $work/src$n" >&2
  HOOKRUN_WORK="$work/work$n" HOOKRUN_DIST="$work/dist$n" bash "$work/src$n/build/build.sh"
done
digest() { (cd "$1" && find hookrun hookrun-dir -type f | LC_ALL=C sort | xargs sha256sum); }
if diff <(digest "$work/dist1") <(digest "$work/dist2") >&2; then
  echo "check-reproducible: identical: $(sha256sum "$work/dist1/hookrun" | cut -c1-16)… dist/hookrun" \
       "and the $(find "$work/dist1/hookrun-dir" -type f | wc -l) files of dist/hookrun-dir/"
else
  echo "check-reproducible: the two builds differ (above)" >&2
  exit 1
fi
