"""wait_exit: wait until no target process is left (zombies count as exited).

Event-driven: one pidfd per matching process is handed to the executor, which wakes as soon as
one of them exits; the short poll interval also catches matching processes that appear while
waiting. Where pidfd_open is unavailable (kernel before 5.3, a seccomp filter) it just polls.
"""

from __future__ import annotations

import os

from hookrun.config.schema import Where
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, not_yet, ok, targets
from hookrun.system.procfs import Proc


@record
class WaitExit:
    """The wait_exit action."""

    target: targets.Target


def parse(value: object, where: Where) -> WaitExit | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { process = "nginx" } or { pidfile = "/run/app.pid" }')
        return None
    f = where.fields(value, targets.TARGET_KEYS)
    target = targets.parse_target(f)
    return WaitExit(target) if target is not None else None


def describe(spec: WaitExit) -> str:
    return f"wait for {spec.target.describe()} to exit"


def attempt(spec: WaitExit, ctx: AttemptContext) -> Outcome:
    found = targets.find(spec.target, ctx.protected_pids)
    if found.problem is not None:
        return fail(found.problem)
    live, fds = _watch(found.procs)
    seen: set[int] = ctx.memo.setdefault("seen", set())
    if not live:
        if not seen:
            return ok(f"no process matched {spec.target.describe()}")
        return ok(f"{len(seen)} process{'es' if len(seen) > 1 else ''} exited")
    seen.update(p.pid for p in live)
    return not_yet(f"still running: {targets.listed([p.label() for p in live])}", tuple(fds))


MAX_PIDFDS = 64  # pidfds held at once: any exit among them wakes the wait; the rest are polled


def _watch(procs: tuple[Proc, ...]) -> tuple[list[Proc], list[int]]:
    """The processes still alive, and a pidfd (readable once it exits) for up to MAX_PIDFDS.

    A match that exited before its pidfd opened is not alive. Past MAX_PIDFDS, or where
    pidfds cannot be had (no pidfd_open, no descriptor left: a Postgres with 1,000 backends
    and the usual limit of 1,024 open files), the rest count as alive and are polled: each
    re-check scans the table again, every poll_interval.
    """
    live: list[Proc] = []
    fds: list[int] = []
    for index, proc in enumerate(procs):
        if len(fds) >= MAX_PIDFDS:
            return live + list(procs[index:]), fds
        try:
            fds.append(os.pidfd_open(proc.pid))
        except ProcessLookupError:  # exited since the scan
            continue
        except (AttributeError, OSError):
            return live + list(procs[index:]), fds
        live.append(proc)
    return live, fds


WAIT_EXIT: Kind[WaitExit] = Kind("wait_exit", parse, describe, attempt, polling=True, poll_interval=0.1)
