"""wait_exit: wait until no target process is left (zombies count as exited).

Event-driven: one pidfd per matching process is handed to the executor, which wakes as soon as
one of them exits; the short poll interval also catches matching processes that appear while
waiting. Where pidfd_open is unavailable (kernel before 5.3, a seccomp filter) it just polls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hookrun import targets
from hookrun.steps import AttemptContext, Kind, Outcome, Spec, Where, fail, not_yet, ok


@dataclass(frozen=True)
class WaitExit:
    target: targets.Target


def parse(value: object, where: Where) -> WaitExit | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { process = "nginx" } or { pidfile = "/run/app.pid" }')
        return None
    f = where.fields(value, targets.TARGET_KEYS)
    target = targets.parse_target(f)
    return WaitExit(target) if target is not None else None


def describe(spec: Spec) -> str:
    return f"wait for {spec.target.describe()} to exit"


def attempt(spec: Spec, ctx: AttemptContext) -> Outcome:
    for _ in range(3):  # a match that exits before its pidfd opens: look again at once
        found = targets.find(spec.target, ctx.protected_pids)
        if found.problem is not None:
            return fail(found.problem)
        fds, vanished = _watch(found.procs)
        if not vanished:
            break
        for fd in fds:
            os.close(fd)
        fds = []
    seen: set[int] = ctx.memo.setdefault("seen", set())
    if not found.procs:
        if not seen:
            return ok(f"no process matched {spec.target.describe()}")
        return ok(f"{len(seen)} process{'es' if len(seen) > 1 else ''} exited")
    seen.update(p.pid for p in found.procs)
    return not_yet(f"still running: {targets.listed([p.label() for p in found.procs])}", tuple(fds))


def _watch(procs: tuple[targets.Proc, ...]) -> tuple[list[int], bool]:
    """A pidfd per process (readable once it exits), and whether one of them is gone already.

    No pidfds at all where pidfd_open is unavailable: the executor then just polls.
    """
    fds: list[int] = []
    for proc in procs:
        try:
            fds.append(os.pidfd_open(proc.pid))
        except ProcessLookupError:
            return fds, True
        except (AttributeError, OSError):
            break
    return fds, False


WAIT_EXIT = Kind("wait_exit", parse, describe, attempt, polling=True, poll_interval=0.1)
