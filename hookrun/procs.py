"""Running child commands the way tini and dumb-init would: own session, bounded, group-killed."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hookrun.deadline import Clock

KILL_GRACE = 0.1  # seconds between SIGTERM and SIGKILL of a timed-out process group
MAX_LINE = 8192  # longer output lines are cut
MAX_LOGGED = 1 << 20  # output bytes logged per attempt; the rest is drained and dropped


class LaunchError(Exception):
    """The command could not be started; `code` follows shell conventions (126, 127)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Finished:
    code: int  # exit status, 128+N when killed by signal N
    timed_out: bool
    seconds: float


# Variables the PyInstaller bootloader and the staticx launcher set for their own use only
_BUNDLE_PRIVATE = ("_PYI_", "STATICX_")


def child_base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment children get: the image's own, without what a frozen bundle added."""
    env = dict(environ)
    if getattr(sys, "frozen", False):
        for name in [name for name in env if name.startswith(_BUNDLE_PRIVATE)]:
            del env[name]
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is not None:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
    return env


def run_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    deadline: float,
    clock: Clock,
    on_line: Callable[[str], None],
) -> Finished:
    """Run argv in a new session until it exits or `deadline`; output goes to on_line."""
    started = clock.now()
    proc = _launch(argv, env, cwd)
    assert proc.stdout is not None
    lines = _LineSplitter(on_line)
    pidfd = _pidfd(proc.pid)
    timed_out = False
    try:
        timed_out = not _pump_until_exit(proc, pidfd, lines, deadline, clock)
        if timed_out:
            terminate_group(proc.pid, lambda t: _wait_exit(proc, pidfd, t))
        _drain(proc.stdout.fileno(), lines, 0.05)
        kill_group(proc.pid)  # background processes the command left behind do not outlive it
    finally:
        if proc.returncode is None:  # interrupted: nothing we started may outlive us
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        lines.close()
        proc.stdout.close()
        if pidfd is not None:
            os.close(pidfd)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Finished(code, timed_out, clock.now() - started)


def _launch(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> subprocess.Popen[bytes]:
    if cwd is not None and not os.path.isdir(cwd):
        raise LaunchError(126, f"working directory {cwd} does not exist")
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except FileNotFoundError:
        raise LaunchError(127, f"command not found: {argv[0]}") from None
    except PermissionError:
        raise LaunchError(126, f"permission denied: {argv[0]} (not executable?)") from None
    except OSError as err:
        raise LaunchError(126, f"cannot run {argv[0]}: {err.strerror}") from None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _pump_until_exit(
    proc: subprocess.Popen[bytes],
    pidfd: int | None,
    lines: _LineSplitter,
    deadline: float,
    clock: Clock,
) -> bool:
    """Forward output until the process exits (True) or the deadline passes (False)."""
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    os.set_blocking(out, False)
    with selectors.DefaultSelector() as sel:
        sel.register(out, selectors.EVENT_READ, "out")
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        open_out = True
        while True:
            if proc.poll() is not None:
                return True
            left = deadline - clock.now()
            if left <= 0:
                return False
            wait = left if pidfd is not None else min(left, 0.01)
            for key, _ in sel.select(wait):
                if key.data == "out" and open_out and not _read_some(out, lines):
                    sel.unregister(out)
                    open_out = False


def _read_some(fd: int, lines: _LineSplitter) -> bool:
    """Read what is available; False at end of file."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not chunk:
        return False
    lines.feed(chunk)
    return True


def _drain(fd: int, lines: _LineSplitter, seconds: float) -> None:
    """Read the rest of the output, but no longer than `seconds` (a background child may hold the pipe)."""
    end = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = end - time.monotonic()
            if left <= 0 or not sel.select(left) or not _read_some(fd, lines):
                return


def _wait_exit(proc: subprocess.Popen[bytes], pidfd: int | None, seconds: float) -> bool:
    if pidfd is not None:
        with selectors.DefaultSelector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            sel.select(seconds)
    else:
        end = time.monotonic() + seconds
        while proc.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
    return proc.poll() is not None


def terminate_group(pgid: int, wait: Callable[[float], bool], grace: float = KILL_GRACE) -> None:
    """SIGTERM the group, give the leader `grace` seconds, then SIGKILL the group."""
    kill_group(pgid, signal.SIGTERM)
    if not wait(grace):
        kill_group(pgid, signal.SIGKILL)
    wait(1.0)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group; a group that is already gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass
    except OSError as err:
        if err.errno != errno.ESRCH:
            raise


class _LineSplitter:
    """Bytes in, one callback per text line out; bounded line length and total volume."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.buffer = b""
        self.logged = 0
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._emit(line)
        if len(self.buffer) > MAX_LINE:
            self._emit(self.buffer)
            self.buffer = b""

    def _emit(self, line: bytes) -> None:
        if self.logged >= MAX_LOGGED:
            self.dropped += len(line) + 1
            return
        self.logged += len(line) + 1
        text = line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if len(line) > MAX_LINE:
            text += f" [... {len(line) - MAX_LINE} bytes cut]"
        self.on_line(text)

    def close(self) -> None:
        if self.buffer:
            self._emit(self.buffer)
            self.buffer = b""
        if self.dropped:
            self.on_line(f"[... {self.dropped} more bytes of output not logged]")
            self.dropped = 0

