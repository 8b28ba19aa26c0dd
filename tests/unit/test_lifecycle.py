"""The kubelet's rules as a pure machine, on made-up times: (phase, event, now) -> actions."""

from __future__ import annotations

import signal

from hookrun.emulator.lifecycle import (
    AppEnded,
    HookEnded,
    KillContainer,
    Lifecycle,
    Phase,
    Rules,
    Say,
    SignalApp,
    StartHook,
    StopRequested,
    Tick,
    seconds_after_term,
)

BOTH = frozenset({"poststart", "prestop"})


def machine(grace: int = 30, stop_after: float | None = None, hooks: frozenset[str] = BOTH,
            stop_signal: int = signal.SIGTERM) -> Lifecycle:
    return Lifecycle(Rules(grace, stop_after, stop_signal, hooks))


def kinds(actions: list[object]) -> list[object]:
    """The actions without their log lines."""
    return [a for a in actions if not isinstance(a, Say)]


def test_poststart_starts_with_the_app() -> None:
    assert machine().start(0.0) == [StartHook("poststart")]
    assert machine(hooks=frozenset({"prestop"})).start(0.0) == []


def test_stop_runs_prestop_then_the_stop_signal_when_it_returns() -> None:
    life = machine(grace=30)
    assert kinds(life.on(StopRequested(signal.SIGINT), 10.0)) == [StartHook("prestop")]
    assert life.phase is Phase.PRESTOP and life.due() == 40.0
    assert kinds(life.on(HookEnded("prestop", 0), 14.7)) == [SignalApp(signal.SIGTERM)]
    # 30 - 4 whole seconds of the hook = 26 s until SIGKILL
    assert life.phase is Phase.TERM and life.kill_deadline == 14.7 + 26
    assert life.on(Tick(), 40.6) == []
    assert kinds(life.on(Tick(), 40.7)) == [SignalApp(signal.SIGKILL)]
    assert life.phase is Phase.KILLED and life.kill_at == 40.7


def test_the_grace_period_ends_before_prestop_returns() -> None:
    life = machine(grace=10)
    life.on(StopRequested(signal.SIGTERM), 0.0)
    assert life.on(Tick(), 9.99) == []
    actions = life.on(Tick(), 10.0)
    assert kinds(actions) == [SignalApp(signal.SIGTERM)]
    assert life.prestop_abandoned_at == 10.0
    assert life.kill_deadline == 12.0  # at least 2 s after the stop signal
    assert "prestop abandoned" in str(actions[0])


def test_stop_after_and_the_image_stop_signal() -> None:
    life = machine(stop_after=5.0, stop_signal=signal.SIGQUIT, hooks=frozenset())
    assert life.due() == 5.0 and life.on(Tick(), 4.9) == []
    assert kinds(life.on(Tick(), 5.0)) == [SignalApp(signal.SIGQUIT)]  # no prestop: at once
    assert life.stop_reason == "--stop-after 5s" and life.term_reason == "no prestop hook"


def test_failed_poststart_stops_the_container() -> None:
    life = machine()
    assert kinds(life.on(HookEnded("poststart", 1), 2.0)) == [StartHook("prestop")]
    assert life.stop_reason == "poststart failed, exit 1"
    ok = machine()
    assert kinds(ok.on(HookEnded("poststart", 0), 2.0)) == [] and ok.phase is Phase.RUNNING


def test_a_second_signal_forces_sigkill() -> None:
    life = machine()
    life.on(StopRequested(signal.SIGINT), 1.0)
    assert kinds(life.on(StopRequested(signal.SIGINT), 2.0)) == [SignalApp(signal.SIGKILL)]
    assert life.forced and life.phase is Phase.KILLED


def test_the_app_ending_ends_the_container_and_its_hooks() -> None:
    life = machine()
    life.on(StopRequested(signal.SIGTERM), 1.0)
    assert kinds(life.on(AppEnded(0), 3.0)) == [KillContainer()]
    assert life.phase is Phase.DONE and life.due() is None
    actions = life.on(HookEnded("prestop", 137), 3.1)
    assert kinds(actions) == [] and life.hooks_killed_with_app == {"prestop"}
    # a hook that ends while the app is still exiting (not reaped yet) ended with it too
    early = machine()
    early.on(StopRequested(signal.SIGTERM), 1.0)
    assert kinds(early.on(HookEnded("prestop", 137, with_app=True), 2.0)) == []
    assert early.phase is Phase.PRESTOP and early.hooks_killed_with_app == {"prestop"}


def test_seconds_after_term_follows_the_kubelet() -> None:
    assert seconds_after_term(30, 4.9) == 26
    assert seconds_after_term(30, 29.5) == 2
    assert seconds_after_term(5, 30.0) == 2
