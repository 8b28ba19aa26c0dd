"""sleep: wait a fixed time, cut to the remaining budget."""

from __future__ import annotations

import time

from hookrun.config.schema import Where, as_duration
from hookrun.config.values import format_duration
from hookrun.errors import ValueProblem
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, ok
from hookrun.system.clock import chunk


@record
class Sleep:
    """The sleep action."""

    seconds: float


def parse(value: object, where: Where) -> Sleep | None:
    if isinstance(value, dict):
        f = where.fields(value, ("duration",))
        seconds = f.need("duration", as_duration, 0.0, 'e.g. duration = "5s"')
        return Sleep(seconds) if f.ok else None
    try:
        return Sleep(as_duration(value))
    except ValueProblem as err:
        where.problem(str(err))
        return None


def describe(spec: Sleep) -> str:
    return f"sleep {format_duration(spec.seconds)}"


def attempt(spec: Sleep, ctx: AttemptContext) -> Outcome:
    start = ctx.clock.now()
    end = min(start + spec.seconds, ctx.deadline)
    while (left := end - ctx.clock.now()) > 0:
        time.sleep(chunk(left))
    slept = ctx.clock.now() - start
    if end < start + spec.seconds:
        return ok(f"slept {format_duration(slept)} of {format_duration(spec.seconds)} (cut to the budget)")
    return ok(f"slept {format_duration(slept)}")


def _seconds(spec: Sleep) -> float:
    return spec.seconds


SLEEP: Kind[Sleep] = Kind("sleep", parse, describe, attempt, duration=_seconds)
