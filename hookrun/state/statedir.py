"""The state directory (SPEC §4): the first usable of the fallbacks, never through a symlink."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

from hookrun.errors import UnusableStateDir
from hookrun.record import record


@record
class StateDir:
    """A usable state directory. `fd` is open on it (None: it does not exist yet, dry runs)."""

    path: str
    fd: int | None
    tried: tuple[str, ...] = ()  # earlier candidates and why they were passed over


@record
class NoStateDir:
    """No usable state directory, and why each candidate was passed over."""

    tried: tuple[str, ...]

    def message(self) -> str:
        return ("no writable state directory (" + "; ".join(self.tried) + "); mount a writable "
                "volume (e.g. an emptyDir) and point settings.state_dir or HOOKRUN_STATE_DIR at it")


State = StateDir | NoStateDir


def candidates(setting: str | None, env: Mapping[str, str]) -> list[str]:
    """The state_dir fallbacks, in order (SPEC §4)."""
    paths = [setting, env.get("HOOKRUN_STATE_DIR"), "/run/hookrun"]
    if env.get("TMPDIR"):
        paths.append(os.path.join(env["TMPDIR"], "hookrun"))
    paths += ["/tmp/hookrun", "/dev/shm/hookrun"]
    unique: list[str] = []
    for path in paths:
        if path and os.path.abspath(path) not in unique:
            unique.append(os.path.abspath(path))
    return unique


def open_state_dir(setting: str | None, env: Mapping[str, str], create: bool = True) -> State:
    """The first usable candidate, created 0700 if missing (only checked when `create` is False)."""
    tried: list[str] = []
    for path in candidates(setting, env):
        try:
            fd = _open_dir(path, create)
        except UnusableStateDir as why:
            tried.append(f"{path}: {why}")
            continue
        return StateDir(path, fd, tuple(tried))
    return NoStateDir(tuple(tried))


def _open_dir(path: str, create: bool) -> int | None:
    if os.path.islink(path):  # checked again, race-free, by O_NOFOLLOW below
        raise UnusableStateDir("is a symlink (refused)")
    if create:
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except FileExistsError:
            raise UnusableStateDir("exists and is not a directory") from None
        except OSError as err:
            raise UnusableStateDir(_reason(err)) from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
            return None  # a real run would create it
        raise UnusableStateDir("does not exist and cannot be created") from None
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise UnusableStateDir("is a symlink (refused)") from None
        if err.errno == errno.ENOTDIR:
            raise UnusableStateDir("exists and is not a directory") from None
        raise UnusableStateDir(_reason(err)) from None
    try:
        _check_dir(fd, path)
    except UnusableStateDir:
        os.close(fd)
        raise
    return fd


def _reason(err: OSError) -> str:
    return err.strerror.lower() if err.strerror else str(err)


def _check_dir(fd: int, path: str) -> None:
    info = os.fstat(fd)
    if info.st_uid not in (os.geteuid(), 0):
        raise UnusableStateDir(f"owned by uid {info.st_uid}, not by this user or root (refused)")
    if os.fstatvfs(fd).f_flag & os.ST_RDONLY:
        raise UnusableStateDir("read-only file system")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UnusableStateDir("not writable by this user")
