"""signal: send a signal to the target processes (every match, or the oldest only)."""

from __future__ import annotations

import os
import signal

from hookrun.config.schema import Where, as_bool, as_signal
from hookrun.config.values import signal_name
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, ok, retry, targets

# Signals that stop a main process (a graceful or fast shutdown); others (HUP, USR1, WINCH...)
# ask it to reload or reopen and leave it running, unless the step says `stops = true` (haproxy's
# USR1 is its soft stop).
STOPPING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL})


@record
class Signal:
    """The signal action."""

    target: targets.Target
    signal: int = 15
    all: bool = True
    missing_ok: bool = False
    stops: bool = True  # the signal makes the target exit (default: it is one of STOPPING)


def parse(value: object, where: Where) -> Signal | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { pidfile = "/run/nginx.pid", signal = "QUIT" }')
        return None
    f = where.fields(value, (*targets.TARGET_KEYS, "signal", "all", "missing_ok", "stops"))
    number = f.take("signal", as_signal, 15)
    every = f.take("all", as_bool, True)
    missing_ok = f.take("missing_ok", as_bool, False)
    stops = f.take("stops", as_bool, number in STOPPING)
    target = targets.parse_target(f)
    return Signal(target, number, every, missing_ok, stops) if target is not None and f.ok else None



def describe(spec: Signal) -> str:
    which = "" if spec.all else "the oldest of "
    stops = " (stops = true)" if spec.stops and spec.signal not in STOPPING else ""
    return f"send {signal_name(spec.signal)} to {which}{spec.target.describe()}{stops}"


def attempt(spec: Signal, ctx: AttemptContext) -> Outcome:
    found = targets.find(spec.target, ctx.protected_pids)
    if found.problem is not None:
        return fail(found.problem)
    chosen = found.procs if spec.all else found.procs[:1]
    if not chosen:
        what = f"no process matched {spec.target.describe()}"
        if spec.missing_ok:
            return ok(f"{what}: nothing to signal")
        if spec.target.key == "pidfile" and not os.path.lexists(spec.target.value):
            return retry(f"{what} (the pidfile does not exist: check the path, or set "
                         "missing_ok = true if that is fine)")
        return retry(f"{what} (set missing_ok = true if that is fine)")
    name = signal_name(spec.signal)
    chosen = tuple(sorted(chosen, key=lambda proc: proc.pid == 1))  # PID 1 last: we die with it
    if chosen[-1].pid == 1 and spec.stops and _may_signal(1):
        ctx.before_pid1_exit(f"sent {name} to pid 1; PID 1 exiting counts as done")
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


def _may_signal(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


SIGNAL: Kind[Signal] = Kind("signal", parse, describe, attempt, duration=lambda spec: 0.0)
