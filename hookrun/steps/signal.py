"""signal: send a signal to the target processes (every match, or the oldest only)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hookrun import targets
from hookrun.schema import as_bool, as_signal
from hookrun.steps import AttemptContext, Kind, Outcome, Spec, Where, fail, ok, retry
from hookrun.values import signal_name


@dataclass(frozen=True)
class Signal:
    target: targets.Target
    signal: int = 15
    all: bool = True
    missing_ok: bool = False


def parse(value: object, where: Where) -> Signal | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { pidfile = "/run/nginx.pid", signal = "QUIT" }')
        return None
    f = where.fields(value, (*targets.TARGET_KEYS, "signal", "all", "missing_ok"))
    number = f.take("signal", as_signal, 15)
    every = f.take("all", as_bool, True)
    missing_ok = f.take("missing_ok", as_bool, False)
    target = targets.parse_target(f)
    return Signal(target, number, every, missing_ok) if target is not None and f.ok else None


def describe(spec: Spec) -> str:
    which = "" if spec.all else "the oldest of "
    return f"send {signal_name(spec.signal)} to {which}{spec.target.describe()}"


def attempt(spec: Spec, ctx: AttemptContext) -> Outcome:
    found = targets.find(spec.target, ctx.protected_pids)
    if found.problem is not None:
        return fail(found.problem)
    chosen = found.procs if spec.all else found.procs[:1]
    if not chosen:
        if spec.missing_ok:
            return ok(f"no process matched {spec.target.describe()}: nothing to signal")
        return retry(f"no process matched {spec.target.describe()} "
                     "(set missing_ok = true if that is fine)")
    name = signal_name(spec.signal)
    sent, gone = [], []
    for proc in chosen:
        try:
            os.kill(proc.pid, spec.signal)
            sent.append(proc.label())
        except ProcessLookupError:  # exited since the scan: not an error
            gone.append(proc.label())
        except PermissionError:
            return fail(f"not permitted to send {name} to pid {proc.label()} "
                        f"(hookrun runs as uid {os.getuid()}; run it as the process's user)")
    if not sent:
        return ok(f"{targets.listed(gone)} exited before {name} could be sent")
    tail = f"; {targets.listed(gone)} already gone" if gone else ""
    return ok(f"sent {name} to {targets.listed(sent)}{tail}")


SIGNAL = Kind("signal", parse, describe, attempt, duration=lambda spec: 0.0)
