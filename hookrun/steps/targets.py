"""Which processes a signal or wait_exit step means: pid, pidfile, process name, or cmdline regex.

The process table is read through system.procfs (one stat read per process, the command line
only when needed), so a re-check costs a few milliseconds.
hookrun never targets itself, its ancestors or its own helper processes (the runtime's
protected_pids); zombies count as exited, never match.
"""

from __future__ import annotations

import os
import re

from hookrun.config.schema import Fields, as_nonempty_str, int_range
from hookrun.record import record
from hookrun.system import procfs
from hookrun.system.files import read_regular
from hookrun.system.procfs import Proc

TARGET_KEYS = ("pid", "pidfile", "process", "cmdline")


@record
class Target:
    """A signal or wait_exit target, as written."""

    key: str  # one of TARGET_KEYS
    value: str  # as written ("1234", "/run/nginx.pid", "nginx", "^gunicorn: master")

    def describe(self) -> str:
        if self.key == "pid":
            return f"pid {self.value}"
        if self.key == "pidfile":
            return f"the pid in {self.value}"
        if self.key == "process":
            return f"processes named {self.value}"
        return f"processes whose command line matches {self.value!r}"


@record
class Found:
    """The processes a target means now."""

    procs: tuple[Proc, ...]  # live matches, oldest first
    problem: str | None = None  # the target cannot be resolved (bad pidfile, protected pid)


def listed(labels: list[str]) -> str:
    """"pid 12 (nginx)" or "3 processes: pids 12 (nginx), 13 (nginx), 14 (nginx)"."""
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return f"pid {shown}" if len(labels) == 1 else f"{len(labels)} processes: pids {shown}"


def parse_target(f: Fields) -> Target | None:
    """Exactly one of the target keys from the table being read by `f`."""
    given = [key for key in TARGET_KEYS if f.has(key)]
    if len(given) != 1:
        what = "no target" if not given else "more than one target (" + ", ".join(given) + ")"
        f.problem(None, f"{what}: give exactly one of pid, pidfile, process, cmdline")
        return None
    key = given[0]
    value = str(f.take(key, _as_pid, 0)) if key == "pid" else f.take(key, as_nonempty_str, "")
    if key == "cmdline" and value:
        try:
            re.compile(value)
        except re.error as err:
            f.problem("cmdline", f"not a valid regular expression: {err}")
    return Target(key, value) if f.ok else None


def _as_pid(value: object) -> int:
    """A pid: a number, or a string of digits (what a template like "${APP_PID}" gives)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return int_range(1, 2**22)(value)


def find(target: Target, protected: frozenset[int]) -> Found:
    """The live processes `target` means now, never hookrun, its ancestors or `protected`.

    `protected` holds hookrun's own helper processes (the runtime's protected_pids).
    """
    shielded = protected | procfs.lineage(os.getpid())
    if target.key in ("pid", "pidfile"):
        pid, problem = _explicit_pid(target)
        if problem is not None or pid is None:
            return Found((), problem)
        if pid in shielded:
            return Found((), f"pid {pid} is hookrun itself, one of its ancestors or one of its "
                         "own processes: hookrun never targets those")
        proc = procfs.process(pid)
        return Found(() if proc is None or proc.zombie else (proc,))
    procs = procfs.processes()
    if target.key == "process":
        matches = [p for p in procs if procfs.named(p, target.value)]
    else:
        pattern = re.compile(target.value)
        lines = ((p, procfs.cmdline(p.pid)) for p in procs)
        matches = [p for p, line in lines if line and pattern.search(line)]  # no kernel threads
    live = [p for p in matches if not p.zombie and p.pid not in shielded]
    return Found(tuple(sorted(live, key=lambda p: (p.started, p.pid))))


def _explicit_pid(target: Target) -> tuple[int | None, str | None]:
    if target.key == "pid":
        return int(target.value), None
    try:  # a FIFO planted as the pidfile must not block the hook
        text = read_regular(target.value, 4096)[:64].decode("ascii", "replace").strip()
    except FileNotFoundError:
        return None, None  # no pidfile: nothing runs
    except OSError as err:
        return None, f"cannot read pidfile {target.value}: {err.strerror}"
    if not text:
        return None, None  # written but still empty, or emptied on exit
    if not text.isdigit() or int(text) <= 0:
        return None, f"pidfile {target.value} does not hold a pid (it starts with {text[:12]!r})"
    return int(text), None
