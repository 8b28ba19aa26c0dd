"""Running child commands the way tini and dumb-init would: own session, bounded, group-killed."""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import time
from collections.abc import Callable, Mapping, Sequence

from hookrun.errors import LaunchError
from hookrun.record import record
from hookrun.system.clock import Clock, chunk
from hookrun.system.control import KILL_GRACE, kill_group, libc_prctl, open_pidfd, terminate_group
from hookrun.system.output import LineSplitter, drain, read_some
from hookrun.system.procfs import descendants


@record
class Finished:
    """How a command ended."""

    code: int  # exit status, 128+N when killed by signal N
    timed_out: bool
    seconds: float


def run_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    deadline: float,
    clock: Clock,
    on_line: Callable[[str], None],
) -> Finished:
    """Run argv in a new session until it exits or `deadline`; output goes to on_line.

    The command runs below a supervisor (see `_supervise`), so nothing it starts outlives
    it, even when hookrun itself is killed with SIGKILL.
    """
    import subprocess  # noqa: F401  (for the supervisor, loaded once here rather than after each fork)

    started = clock.now()
    if cwd is not None and not os.path.isdir(cwd):
        raise LaunchError(126, f"working directory {cwd} does not exist")
    lines = LineSplitter(on_line)
    sup: _Supervisor | None = None
    timed_out = False
    try:
        libc_prctl()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
        try:  # the forked child must not run hookrun's handlers before it has its own
            sup = _Supervisor.start(argv, env, cwd)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        # TERM goes out KILL_GRACE before the deadline, so that KILL, for a command that
        # ignores TERM, falls on the deadline and not after it
        timed_out = not sup.pump(lines, deadline - KILL_GRACE, clock)
        if timed_out:
            sup.request_kill()
            sup.pump(lines, max(deadline, clock.now()) + 1.0, clock)
        drain(sup.out, lines, 0.05)
    finally:
        if sup is not None:
            sup.close()
        lines.close()
    if sup.error is not None:
        raise LaunchError(*sup.error)
    return Finished(sup.code, timed_out, clock.now() - started)


_DEFERRED = {signal.SIGTERM, signal.SIGINT}


class _Supervisor:
    """hookrun's side of a supervised command: its output, its reports, and the lifeline.

    The lifeline is a pipe whose only writer is hookrun: when hookrun closes it, or dies,
    the supervisor kills everything the command started.
    """

    def __init__(self, pid: int, lifeline: int, reports: int, out: int) -> None:
        self.pid, self.lifeline, self.reports, self.out = pid, lifeline, reports, out
        self.buffer = b""
        self.code = 128 + signal.SIGKILL  # until the supervisor reports the real status
        self.error: tuple[int, str] | None = None
        self.out_open = True

    @classmethod
    def start(cls, argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> _Supervisor:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        life_r, life_w = os.pipe2(os.O_CLOEXEC)
        rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError as err:
            for fd in (out_r, out_w, life_r, life_w, rep_r, rep_w):
                os.close(fd)
            raise LaunchError(126, f"cannot start {argv[0]}: {err.strerror}") from None
        if pid == 0:  # pragma: no cover - the child never returns from here
            try:
                _supervise(argv, env, cwd, life_r, rep_w, out_w)
            finally:
                os._exit(0)
        for fd in (out_w, life_r, rep_w):
            os.close(fd)
        os.set_blocking(out_r, False)
        return cls(pid, life_w, rep_r, out_r)

    def request_kill(self) -> None:
        """TERM the command's group, a short grace, then KILL everything (a timeout)."""
        with contextlib.suppress(OSError):  # the supervisor may be gone already
            os.write(self.lifeline, b"k")

    def pump(self, lines: LineSplitter, until: float, clock: Clock) -> bool:
        """Forward output until the supervisor has reported and exited (True) or `until` (False)."""
        with selectors.DefaultSelector() as sel:
            if self.out_open:
                sel.register(self.out, selectors.EVENT_READ, "out")
            sel.register(self.reports, selectors.EVENT_READ, "reports")
            while True:
                left = until - clock.now()
                if left <= 0:
                    return False
                for key, _ in sel.select(chunk(left)):
                    if key.data == "out" and not read_some(self.out, lines):
                        sel.unregister(self.out)
                        self.out_open = False
                    elif key.data == "reports" and not self._read_reports():
                        return True

    def _read_reports(self) -> bool:
        """Take in the supervisor's report lines; False at end of file (it has exited)."""
        chunk = os.read(self.reports, 4096)
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            word, _, rest = line.decode("utf-8", "replace").partition(" ")
            if word == "exit":
                self.code = int(rest)
            elif word == "error":
                code, _, message = rest.partition(" ")
                self.error = (int(code), message)
        return bool(chunk)

    def close(self) -> None:
        """Cut the lifeline (the supervisor kills whatever is left) and reap the supervisor."""
        for fd in (self.lifeline, self.reports, self.out):
            os.close(fd)
        pidfd = open_pidfd(self.pid)
        if pidfd is not None:  # bounded: a supervisor slow to finish is left to finish alone
            with selectors.DefaultSelector() as sel:
                sel.register(pidfd, selectors.EVENT_READ)
                sel.select(0.5)
            os.close(pidfd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


# --- the supervisor: a forked child of hookrun, never returning into hookrun's code -----------

def _supervise(argv: Sequence[str], env: Mapping[str, str], cwd: str | None,
               lifeline: int, reports: int, out: int) -> None:  # pragma: no cover - child
    """Start the command, watch it, kill everything it left, report its exit status.

    A child subreaper in its own session: every process the command starts, even one that
    double-forks into a new session, stays below it. It kills all of them when the command
    exits, when hookrun asks (timeout), or when the lifeline reads end of file because
    hookrun is gone.
    """
    gc.disable()  # no finalizer may close a file descriptor number inherited from hookrun
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _ignore)  # caught, not ignored: exec gives the command the default
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEFERRED)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # never hold the kubelet's exec streams open
        os.dup2(null, fd)
    _close_all_but({lifeline, reports, out})  # hookrun's lock files and pipes included
    _become_subreaper()
    try:
        import subprocess  # imported by run_command before the fork: already loaded here

        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=dict(env), cwd=cwd, start_new_session=True, close_fds=True)
    except OSError as err:
        failure = launch_error(argv[0], err)
        _report(reports, f"error {failure.code} {failure}")
        return
    os.close(out)
    tree = _Tree(proc.pid)
    tree.watch(lifeline)
    _report(reports, f"exit {tree.code}")


def _ignore(signum: int, frame: object) -> None:  # pragma: no cover - child
    pass


def _report(fd: int, line: str) -> None:  # pragma: no cover - child
    with contextlib.suppress(OSError):
        os.write(fd, (line.replace("\n", " ") + "\n").encode())


def _close_all_but(keep: set[int]) -> None:  # pragma: no cover - child
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:  # pragma: no cover - child
    """Orphans below the supervisor are re-parented to it, not to init."""
    prctl = libc_prctl()
    if prctl is not None:  # without it, the command's own process group is still killed
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def launch_error(program: str, err: OSError) -> LaunchError:
    if isinstance(err, FileNotFoundError):
        return LaunchError(127, f"command not found: {program}")
    if isinstance(err, PermissionError):
        return LaunchError(126, f"permission denied: {program} (not executable?)")
    return LaunchError(126, f"cannot run {program}: {err.strerror}")


class _Tree:  # pragma: no cover - lives in the supervisor
    """The command (leader of its own process group) and everything below the supervisor."""

    def __init__(self, leader: int) -> None:
        self.leader = leader
        self.code = 128 + signal.SIGKILL
        self.leader_done = False
        self.pidfd = open_pidfd(leader)

    def reap(self) -> None:
        """Collect every exited child: the command, and orphans re-parented to us."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.leader:
                self.leader_done = True
                code = os.waitstatus_to_exitcode(status)
                self.code = code if code >= 0 else 128 - code

    def wait_leader(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while True:
            self.reap()
            left = end - time.monotonic()
            if self.leader_done or left <= 0:
                return self.leader_done
            if self.pidfd is not None:
                with selectors.DefaultSelector() as sel:
                    sel.register(self.pidfd, selectors.EVENT_READ)
                    sel.select(left)
            else:
                time.sleep(min(left, 0.005))

    def watch(self, lifeline: int) -> None:
        """Until the command exits, hookrun asks for a kill, or the lifeline breaks; then kill all."""
        with selectors.DefaultSelector() as sel:
            sel.register(lifeline, selectors.EVENT_READ, "lifeline")
            if self.pidfd is not None:
                sel.register(self.pidfd, selectors.EVENT_READ, "leader")
            while not self.leader_done:
                ready = sel.select(1.0 if self.pidfd is not None else 0.01)
                self.reap()
                if any(key.data == "lifeline" for key, _ in ready):
                    if os.read(lifeline, 16):  # a timeout: TERM, a short grace, then KILL
                        terminate_group(self.leader, self.wait_leader)
                    break
        self.kill_all()

    def kill_all(self, bound: float = 2.0) -> None:
        """SIGKILL the group and every descendant until none is left (bounded in time)."""
        end = time.monotonic() + bound
        while True:
            kill_group(self.leader)
            self.reap()
            pids = descendants(os.getpid())
            if not pids or time.monotonic() > end:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)
