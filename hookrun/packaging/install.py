"""`hookrun install DIR`: put a runnable copy of this hookrun into DIR, as an initContainer does
into an emptyDir that the app's container mounts. Atomic (readers see no file or the whole
one), idempotent (the same bytes are not written again), and checked: the copy is run once.

What can install what: the static build installs itself, and the copy runs in any Linux image
(scratch, distroless, Alpine); the one-file build installs itself too, but its copy needs glibc
2.36 or newer in the app's image; the one-dir build is a folder, not one file, and the source
tree is not an executable: both refuse, naming the static build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from hookrun.errors import UsageError
from hookrun.record import record
from hookrun.system import child_base_env
from hookrun.system.files import atomic_write_at, open_dir

NAME = "hookrun"
MAX_SIZE = 256 << 20  # bytes: far more than any build of hookrun
VERIFY_S = 30.0


@record
class Installed:
    """What `hookrun install` put where."""

    path: str
    variant: str
    size: int
    unchanged: bool  # the same file was there already
    version: str  # what the copy said when it ran


def running_build() -> tuple[str, str]:
    """The one file that holds this hookrun, and its variant; UsageError when there is none."""
    try:
        from hookrun import _build  # type: ignore[attr-defined]  # written by build/
        variant = str(_build.VARIANT)
    except ImportError:
        variant = "source"
    if variant == "static" and os.environ.get("STATICX_PROG_PATH"):
        return os.environ["STATICX_PROG_PATH"], variant
    if variant == "one-file":
        return os.environ.get("_PYI_ARCHIVE_FILE") or sys.executable, variant
    if variant == "one-dir":
        raise UsageError("install: this is the one-dir build, a folder of files: install from the "
                         "static build (the hookrun image, dist/hookrun-static) instead")
    raise UsageError("install: hookrun runs from source here, not as one executable: build it "
                     "(make binary) and run dist/hookrun-static install DIR")


def install(directory: str, env: Mapping[str, str]) -> Installed:
    source, variant = running_build()
    if not os.path.isdir(directory):
        raise UsageError(f"install: {directory} is not a directory (mount the shared volume there)")
    with open(source, "rb") as handle:
        data = handle.read(MAX_SIZE + 1)
    target = os.path.join(directory, NAME)
    unchanged = _same(target, data)
    if not unchanged:
        dir_fd = open_dir(directory)
        try:
            atomic_write_at(dir_fd, NAME, data, 0o755)
        except OSError as err:
            raise UsageError(f"install: cannot write {target}: {err.strerror}") from None
        finally:
            os.close(dir_fd)
    return Installed(target, variant, len(data), unchanged, _verify(target, env))


def _same(path: str, data: bytes) -> bool:
    try:
        if os.path.getsize(path) != len(data) or not os.access(path, os.X_OK):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def _verify(path: str, env: Mapping[str, str]) -> str:
    """Run the copy once (`version`); its answer, or UsageError saying why it does not run."""
    try:
        done = subprocess.run([path, "version"], env=child_base_env(env), capture_output=True,
                              text=True, timeout=VERIFY_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"install: {path} was written but does not run: {err}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"install: {path} was written but does not run (exit {done.returncode}: "
                         f"{said[0]}); the directory must allow exec, and TMPDIR must be writable")
    return done.stdout.strip()
