"""What a real run does before its first step: take the hook's lock (waiting inside its own
budget) and, for prestop, cancel a poststart of this container that is still running.
Reports through `note`; never prints."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

from hookrun.config.values import format_duration as fmt
from hookrun.record import record
from hookrun.state.lock import Holder, acquire, cancel_holder, lock_name, stopping
from hookrun.state.markers import Store
from hookrun.state.statedir import NoStateDir
from hookrun.system.clock import Clock

STOPPING = "prestop has started in this container: a poststart must not run alongside it"
NoteLevel = Literal["info", "warning", "error"]
Note = Callable[[NoteLevel, str], None]  # level, message


@record
class Lock:
    """The outcome of taking a hook's lock."""

    fd: int | None  # held for the run; None: running without the lock
    cancelled: str | None = None  # this delivery must not run (why), e.g. prestop has started


def take_lock(store: Store, hook: str, until: float, clock: Clock, protected: frozenset[int],
              note: Note, reserved: float = 0.0) -> Lock:
    """The hook's lock, held for the run (its fd None when running without one).

    The wait ends `reserved` seconds before `until` (the hook's deadline), so that the steps
    with a reserve still get it. None is also returned when the lock did not come free by
    then: without reserves the deadline has passed and the executor skips every step for lack
    of budget; with them, only the steps holding a reserve still have time, and they run
    without the lock. A poststart delivery is cancelled when prestop of the same container has
    started, whether it runs (prestop SIGTERMs it) or still waits for the lock (it gives up).
    """
    until -= reserved
    state = store.state
    if isinstance(state, NoStateDir) or state.fd is None:
        message = state.message() if isinstance(state, NoStateDir) else "no state directory"
        note("warning", f"{message}; running without the {hook} lock, `once` steps will fail")
        return Lock(None)
    if state.tried:
        note("warning", f"using the state directory {state.path}; passed over: " + "; ".join(state.tried))
    instance = store.keys.container or "-"
    dir_fd = state.fd
    if hook == "poststart" and stopping(dir_fd, instance):
        return Lock(None, STOPPING)

    def waiting(holder: Holder | None) -> None:
        who = f" (pid {holder.pid})" if holder is not None else ""
        note("info", f"another {hook}{who} is running: waiting for it to finish, "
             f"{fmt(max(0.0, until - clock.now()))} at most")

    def give_up() -> bool:
        return hook == "poststart" and stopping(dir_fd, instance)

    try:
        fd = acquire(dir_fd, hook, instance, until, clock, waiting, give_up)
    except OSError as err:
        note("warning", f"cannot lock {os.path.join(state.path, lock_name(hook))} "
             f"({err.strerror}); running without the {hook} lock")
        return Lock(None)
    if hook == "poststart" and give_up():  # prestop came while we waited, or as we got the lock
        if fd is not None:
            os.close(fd)
        return Lock(None, STOPPING)
    if hook == "prestop":  # under its lock, whose record tells a waiting poststart to give up
        holder = cancel_holder(dir_fd, "poststart", instance, protected)
        if holder is not None:
            note("warning", f"cancelled the poststart still running (pid {holder.pid}) so that "
                 "it cannot use up the grace period")
    if fd is None and reserved > 0:
        note("warning", f"stopped waiting for another {hook} to finish, to leave {fmt(reserved)} "
             "for the steps that reserve it: they run without the lock")
    elif fd is None:
        note("error", f"the budget ran out waiting for another {hook} to finish")
    return Lock(fd)
