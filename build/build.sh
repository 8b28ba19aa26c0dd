#!/usr/bin/env bash
# Builds the shipped executables from this source tree:
#   dist/hookrun          one-file (PyInstaller): one file to COPY, unpacks itself to $TMPDIR
#   dist/hookrun-dir/     one-dir: dist/hookrun-dir/hookrun, nothing unpacked (read-only roots)
#   dist/hookrun-static   a one-dir tree wrapped by staticx: no glibc or libz needed in the image
# The bootloaders are compiled from the source releases of PyInstaller (zlib linked in) and
# staticx (with musl), patched to unpack their bundles without copying them through user space
# (build/launcher-patches.py). Work files
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
want="$("$python" -c 'import sys; print(sys.version)') $(cat "$root/build/requirements.txt" "$root/build/launcher-patches.py" | sha256sum)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the build environment in $venv (compiles PyInstaller's bootloader)"
  rm -rf "$venv" "$work/sdist"
  mkdir -p "$work/sdist"
  "$python" -m venv "$venv"
  quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  quiet "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  # PyInstaller and staticx from their source releases, patched (build/launcher-patches.py):
  # PyInstaller's bootloader with zlib linked in, staticx's with musl (scons builds it)
  sources=()
  for name in pyinstaller staticx; do
    pin=$(grep -E "^$name==" "$root/build/requirements.txt")
    quiet "$venv/bin/pip" download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
      --no-binary :all: "$pin" -d "$work/sdist"
    tar -xzf "$work/sdist/$name-${pin#"$name"==}.tar.gz" -C "$work/sdist"
    "$python" "$root/build/launcher-patches.py" "$name" "$work/sdist/$name-${pin#"$name"==}"
    sources+=("$work/sdist/$name-${pin#"$name"==}")
  done
  PYI_STATIC_ZLIB=1 PYINSTALLER_COMPILE_BOOTLOADER=1 BOOTLOADER_CC=musl-gcc quiet "$venv/bin/pip" \
    install --quiet --disable-pip-version-check --no-cache-dir "${sources[@]}" \
    -r "$root/build/requirements.txt"
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
say "PyInstaller (one analysis: one-file, one-dir, and the one-dir tree staticx wraps)"
"$venv/bin/pyinstaller" --noconfirm --log-level WARN --workpath "$work/pyi" --distpath "$out" \
  "$root/build/hookrun.spec"
mv "$out/hookrun-dir/hookrun-onedir" "$out/hookrun-dir/hookrun"

# --- staticx: the one-dir tree plus the loader and C libraries it needs, in one static file -------
# build/staticx-tree.py; staticx output is never bit-identical.
say "staticx"
mv "$out/hookrun-static-dir/hookrun-static-inner" "$out/hookrun-static-dir/hookrun"
PATH="$venv/bin:$PATH" "$venv/bin/python" "$root/build/staticx-tree.py" "$out/hookrun-static-dir" hookrun \
  "$out/hookrun-static"
rm -rf "$out/hookrun-static-dir"

# --- publish -------------------------------------------------------------------------------------
mkdir -p "$dist"
rm -rf "$dist/hookrun" "$dist/hookrun-dir" "$dist/hookrun-static"
mv "$out/hookrun" "$out/hookrun-dir" "$out/hookrun-static" "$dist/"
rmdir "$out"
for f in "$dist/hookrun" "$dist/hookrun-dir/hookrun" "$dist/hookrun-static"; do
  say "$(du -h --apparent-size "$f" | cut -f1)  $f: $("$f" version)"
done
say "$(du -sh --apparent-size "$dist/hookrun-dir" | cut -f1)  $dist/hookrun-dir/ ($(find "$dist/hookrun-dir" -type f | wc -l) files)"
