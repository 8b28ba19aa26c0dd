"""The kubelet's rules for one container's life, as a pure state machine.

(phase, event, now) -> actions. No processes, no clock: the I/O loop (kubelet.py) feeds it
events with the time they happened and carries out the actions it returns. The rules, as in
the kubelet's source (KUBELET.md): CMD starts and postStart runs at the same time; a failed
postStart kills the container; a stop starts the grace timer and runs preStop raced against
it; when preStop returns or the grace period ends (the hook is then abandoned, not killed),
the elapsed whole seconds are subtracted, the rest is clamped to at least 2 s, the stop
signal goes to CMD, and SIGKILL follows after that rest.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field

from hookrun.config.values import format_duration, signal_name
from hookrun.record import record

MIN_AFTER_TERM = 2  # the kubelet's minimumGracePeriodInSeconds


def seconds_after_term(grace: int, hook_seconds: float) -> int:
    """What the kubelet leaves the app between the stop signal and SIGKILL."""
    return max(grace - int(hook_seconds), MIN_AFTER_TERM)


class Phase(enum.Enum):
    RUNNING = "running"  # CMD runs (poststart may too)
    PRESTOP = "prestop"  # the grace timer runs; prestop runs
    TERM = "term"  # the stop signal was sent; SIGKILL when the rest of the grace period ends
    KILLED = "killed"  # SIGKILL was sent
    DONE = "done"  # CMD has exited


# --- events: what happened ---------------------------------------------------------------------

@record
class StopRequested:
    """Ctrl-C or SIGTERM to the emulator (a second one forces SIGKILL)."""

    signum: int


@record
class HookEnded:
    """A hook process ended."""

    hook: str
    status: int  # exit status, 128+N when killed by signal N
    with_app: bool = False  # CMD had begun to exit: the hook ended because the container did


@record
class AppEnded:
    """CMD ended."""

    status: int


@record
class Tick:
    """Time passed: the machine checks its timer."""


Event = StopRequested | HookEnded | AppEnded | Tick


# --- actions: what the I/O loop must do ----------------------------------------------------------

@record
class StartHook:
    """Start this hook."""

    hook: str


@record
class SignalApp:
    """Send this signal to CMD."""

    signum: int


@record
class KillContainer:
    """CMD has exited: every other process of the container dies with it."""


@record
class Say:
    """A line for the timeline."""

    source: str  # emulate | app | poststart | prestop
    text: str


Action = StartHook | SignalApp | KillContainer | Say


@record
class Rules:
    """The kubelet's numbers for this container."""

    grace_s: int
    stop_after: float | None
    stop_signal: int
    hooks: frozenset[str]  # the hooks the config defines


@dataclass
class Lifecycle:
    """The container's state, and the rules that move it."""

    rules: Rules
    phase: Phase = Phase.RUNNING
    stop_at: float | None = None
    stop_reason: str | None = None
    term_at: float | None = None
    term_reason: str | None = None
    kill_deadline: float | None = None
    kill_at: float | None = None
    app_exit_at: float | None = None
    forced: bool = False
    prestop_abandoned_at: float | None = None
    hooks_killed_with_app: set[str] = field(default_factory=set)

    def start(self, now: float) -> list[Action]:
        """CMD has started: poststart runs alongside it."""
        return [StartHook("poststart")] if "poststart" in self.rules.hooks else []

    def due(self) -> float | None:
        """When the current phase's timer fires: --stop-after, the grace period's end, SIGKILL."""
        if self.phase is Phase.RUNNING:
            return self.rules.stop_after
        if self.phase is Phase.PRESTOP and self.stop_at is not None:
            return self.stop_at + self.rules.grace_s
        if self.phase is Phase.TERM:
            return self.kill_deadline
        return None

    def on(self, event: Event, now: float) -> list[Action]:
        if isinstance(event, Tick):
            return self._tick(now)
        if isinstance(event, StopRequested):
            return self._stop_requested(event.signum, now)
        if isinstance(event, HookEnded):
            return self._hook_ended(event, now)
        return self._app_ended(event.status, now)

    # --- transitions -----------------------------------------------------------------------------
    def _tick(self, now: float) -> list[Action]:
        due = self.due()
        if due is None or now < due:
            return []
        if self.phase is Phase.RUNNING:
            return self._begin_stop(now, f"--stop-after {format_duration(due)}")
        if self.phase is Phase.PRESTOP:
            self.prestop_abandoned_at = now
            return self._send_stop(now, "the grace period ended; prestop abandoned (still running)")
        return self._sigkill(now)

    def _stop_requested(self, signum: int, now: float) -> list[Action]:
        if self.phase is Phase.RUNNING:
            how = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM to hookrun emulate"
            return self._begin_stop(now, how)
        if self.phase in (Phase.PRESTOP, Phase.TERM):
            self.forced = True
            return [Say("emulate", f"second {signal_name(signum)}: SIGKILL now"), *self._sigkill(now)]
        return []

    def _begin_stop(self, now: float, reason: str) -> list[Action]:
        self.phase, self.stop_at, self.stop_reason = Phase.PRESTOP, now, reason
        actions: list[Action] = [
            Say("emulate", f"stop ({reason}): the {self.rules.grace_s}s grace timer starts")]
        if "prestop" in self.rules.hooks:
            return [*actions, StartHook("prestop")]
        return [*actions, *self._send_stop(now, "no prestop hook")]

    def _send_stop(self, now: float, why: str) -> list[Action]:
        if self.phase is not Phase.PRESTOP or self.stop_at is None:
            return []
        rest = seconds_after_term(self.rules.grace_s, now - self.stop_at)
        self.phase, self.term_at, self.term_reason = Phase.TERM, now, why
        self.kill_deadline = now + rest
        name = signal_name(self.rules.stop_signal)
        return [Say("emulate", f"{name} to the app ({why}); SIGKILL in {rest}s if it is still running"),
                SignalApp(self.rules.stop_signal)]

    def _sigkill(self, now: float) -> list[Action]:
        self.phase, self.kill_at = Phase.KILLED, now
        return [Say("emulate", "SIGKILL to the app"), SignalApp(signal.SIGKILL)]

    def _app_ended(self, status: int, now: float) -> list[Action]:
        self.app_exit_at, self.phase = now, Phase.DONE
        return [Say("app", f"app exited: {describe_status(status)}"), KillContainer()]

    def _hook_ended(self, event: HookEnded, now: float) -> list[Action]:
        hook, status = event.hook, event.status
        if self.phase is Phase.DONE or event.with_app:
            # the container is ending: its hooks die with it (in a PID namespace the kernel
            # kills them before PID 1 can be reaped); the app's end decides what follows
            self.hooks_killed_with_app.add(hook)
            return [Say(hook, f"hook ended with the app ({describe_status(status)})")]
        if hook == "poststart" and status != 0 and self.phase is Phase.RUNNING:
            return [Say(hook, f"hook failed ({describe_status(status)})"),
                    *self._begin_stop(now, f"poststart failed, exit {status}")]
        actions: list[Action] = [Say(hook, f"hook ended ({describe_status(status)})")]
        if hook == "prestop" and self.phase is Phase.PRESTOP:
            actions += self._send_stop(now, "prestop returned")
        return actions


def describe_status(status: int) -> str:
    if status > 128:
        return f"killed by {signal_name(status - 128)}, exit {status}"
    return f"exit {status}"
