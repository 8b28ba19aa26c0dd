#!/usr/bin/env bash
# Builds the shipped executables from this source tree:
#   dist/hookrun          one-file (PyInstaller): one file to COPY, unpacks itself to $TMPDIR
#   dist/hookrun-dir/     one-dir: dist/hookrun-dir/hookrun, nothing unpacked (read-only roots)
#   dist/hookrun-static   the one-file wrapped by staticx: no glibc or libz needed in the image
# The bootloader is compiled from PyInstaller's source release with zlib linked in, patched to
# unpack one-file bundles with sendfile (build/pyinstaller-patch.py). Work files
# go to pyi-work/ (the build environment is kept there and reused while build/requirements.txt
# is unchanged). Environment: BUILD_PYTHON (default Debian's /usr/bin/python3), HOOKRUN_WORK,
# HOOKRUN_VENV, HOOKRUN_DIST (default pyi-work/, pyi-work/venv and dist/ in the source tree);
# HOOKRUN_COMMIT and SOURCE_DATE_EPOCH (default: from git) for trees without .git.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${HOOKRUN_WORK:-$root/pyi-work}
dist=${HOOKRUN_DIST:-$root/dist}
python=${BUILD_PYTHON:-/usr/bin/python3}
venv=${HOOKRUN_VENV:-$work/venv}
say() { echo "build: $*" >&2; }

# --- the build environment ---------------------------------------------------------------------
want="$("$python" -c 'import sys; print(sys.version)') $(cat "$root/build/requirements.txt" "$root/build/pyinstaller-patch.py" | sha256sum)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the build environment in $venv (compiles PyInstaller's bootloader)"
  rm -rf "$venv" "$work/sdist"
  mkdir -p "$work/sdist"
  "$python" -m venv "$venv"
  quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  quiet "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  # PyInstaller from its source release, patched (build/pyinstaller-patch.py), the bootloader
  # compiled with zlib linked in
  pin=$(grep -E '^pyinstaller==' "$root/build/requirements.txt")
  quiet "$venv/bin/pip" download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
    --no-binary :all: "$pin" -d "$work/sdist"
  tar -xzf "$work/sdist/pyinstaller-${pin#pyinstaller==}.tar.gz" -C "$work/sdist"
  src=$work/sdist/pyinstaller-${pin#pyinstaller==}
  "$python" "$root/build/pyinstaller-patch.py" "$src"
  PYI_STATIC_ZLIB=1 PYINSTALLER_COMPILE_BOOTLOADER=1 quiet "$venv/bin/pip" install --quiet \
    --disable-pip-version-check --no-cache-dir "$src" -r "$root/build/requirements.txt"
  rm -rf "$work/sdist"
  echo "$want" > "$venv/.stamp"
fi
# the bootloader of this machine's architecture: Linux-64bit-intel (x86_64), Linux-64bit-arm (aarch64)
bootloader=$("$venv/bin/python" -c 'import os, PyInstaller as p; print(os.path.join(os.path.dirname(p.__file__), "bootloader", p.PLATFORM, "run"))')
if ldd "$bootloader" | grep -q 'libz\.'; then
  say "the PyInstaller bootloader links libz dynamically; rebuild the environment: rm -rf $venv"
  exit 1
fi

# --- PyInstaller: one analysis, three executables (see build/hookrun.spec) ----------------------
# Reproducible bytes: fixed hash seed, timestamps from the last commit, no absolute paths of this
# machine in the output (the spec and PyInstaller keep module paths relative).
export PYTHONHASHSEED=0
# The modules in the executable's PYZ archive are stored, not deflated: every start inflates
# each module it imports, 3 ms of a no-op hook's CPU; the archive is 3 MB larger
# (build/hookrun.spec has the other start-up decisions).
export PYINSTALLER_ZLIB_COMPRESSION_LEVEL=0
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 315532800)}
export SOURCE_DATE_EPOCH
out=$work/out
rm -rf "$out"
say "PyInstaller (one analysis; one-file, one-dir and the staticx input)"
"$venv/bin/pyinstaller" --noconfirm --log-level WARN --workpath "$work/pyi" --distpath "$out" \
  "$root/build/hookrun.spec"
mv "$out/hookrun-dir/hookrun-onedir" "$out/hookrun-dir/hookrun"

# --- staticx: the one-file plus the loader and C libraries it needs, in one static file ----------
# --no-compress: xz made it 20% smaller (8.9 instead of 11.2 MB) but start 2.5 times slower
# (420 instead of 170 ms), time taken out of the grace period. staticx output is never
# bit-identical.
mkdir -p "$out/static"
mv "$out/hookrun-static-inner" "$out/static/hookrun"
say "staticx"
PATH="$venv/bin:$PATH" staticx --no-compress "$out/static/hookrun" "$out/hookrun-static"
chmod 0755 "$out/hookrun-static"  # staticx leaves its temporary file's 0700
rm -rf "$out/static"

# --- publish -------------------------------------------------------------------------------------
mkdir -p "$dist"
rm -rf "$dist/hookrun" "$dist/hookrun-dir" "$dist/hookrun-static"
mv "$out/hookrun" "$out/hookrun-dir" "$out/hookrun-static" "$dist/"
rmdir "$out"
for f in "$dist/hookrun" "$dist/hookrun-dir/hookrun" "$dist/hookrun-static"; do
  say "$(du -h --apparent-size "$f" | cut -f1)  $f: $("$f" version)"
done
say "$(du -sh --apparent-size "$dist/hookrun-dir" | cut -f1)  $dist/hookrun-dir/ ($(find "$dist/hookrun-dir" -type f | wc -l) files)"
