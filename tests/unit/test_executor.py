"""The executor on a fake clock with fake step kinds: which deadline binds, retries and their
delays, give-up against timeout, `always` after an abort, skips for budget, interruption.

A fake kind's attempt takes a scripted time on the fake clock and returns a scripted status;
an attempt that would run past its deadline takes the time up to the deadline and times out,
as a real kind does. Nothing here sleeps.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hookrun.config.load import from_document
from hookrun.config.schema import Where
from hookrun.engine.executor import Runtime, execute
from hookrun.engine.plan import PlannedStep, build_plan
from hookrun.engine.report import Event, Report
from hookrun.errors import Interrupted
from hookrun.steps import AttemptContext, Kind, Outcome, timeout

T0 = 1000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t


@dataclass
class Fake:
    """Scripts per step name: a list of (status, seconds) for attempts 1, 2, ... (the last repeats)."""

    clock: FakeClock
    scripts: dict[str, list[tuple[str, float]]]
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waits: list[float] = field(default_factory=list)

    def attempt(self, name: str, ctx: AttemptContext) -> Outcome:
        script = self.scripts[name]
        status, seconds = script[min(self.calls[name], len(script) - 1)]
        self.calls[name] += 1
        if status == "interrupt":
            raise Interrupted(15)
        if self.clock.t + seconds >= ctx.deadline:
            self.clock.t = max(self.clock.t, ctx.deadline)
            return timeout(f"{name} still busy")
        self.clock.t += seconds
        return Outcome(status, f"{name} attempt {self.calls[name]}: {status}")  # type: ignore[arg-type]

    def kinds(self) -> dict[str, Kind[Any]]:
        def parse(value: object, where: Where) -> str | None:
            return value if isinstance(value, str) else None

        return {
            "fake": Kind("fake", parse, lambda name: f"fake {name}", self.attempt),
            "poll": Kind("poll", parse, lambda name: f"poll {name}", self.attempt, polling=True,
                         poll_interval=0.5),
        }

    def wait(self, seconds: float, fds: tuple[int, ...]) -> None:
        self.waits.append(round(seconds, 6))
        self.clock.t += seconds


@dataclass
class Journal:
    refuse: dict[str, str] = field(default_factory=dict)
    ok: list[str] = field(default_factory=list)

    def refusal(self, step: PlannedStep) -> str | None:
        return self.refuse.get(step.name)

    def succeeded(self, step: PlannedStep) -> str | None:
        self.ok.append(step.name)
        return None

    def final(self, report: Report) -> None:
        raise AssertionError("no step here signals PID 1")


@dataclass
class Run:
    report: Report
    events: list[Event]
    fake: Fake
    journal: Journal

    def status(self) -> dict[str, str]:
        return {s.name: s.status for s in self.report.steps}

    def detail(self, name: str) -> str:
        return next(s.detail for s in self.report.steps if s.name == name)


def run(toml: str, scripts: dict[str, list[tuple[str, float]]], refuse: dict[str, str] | None = None,
        random: float = 1.0) -> Run:
    import tomllib

    clock = FakeClock()
    fake = Fake(clock, scripts)
    config = from_document(tomllib.loads(textwrap.dedent(toml)), "test.toml", {}, fake.kinds())
    hook = next(iter(config.hooks))
    plan = build_plan(config, hook, kinds=fake.kinds())
    events: list[Event] = []
    journal = Journal(refuse or {})
    runtime = Runtime(clock=clock, emit=events.append, env={}, started_at=T0, wall=lambda: 0.0,
                      wait=fake.wait, random=lambda: random, checkpoint=journal, kinds=fake.kinds())
    return Run(execute(plan, runtime), events, fake, journal)


def test_step_timeout_binds_before_the_hook_budget() -> None:
    r = run("""
        [run]
        timeout = "10s"
        [[run.steps]]
        name = "a"
        fake = "a"
        timeout = "2s"
        """, {"a": [("ok", 5.0)]})
    step = r.report.steps[0]
    assert step.status == "timeout" and not step.cut_by_hook
    assert "step timeout 2s reached after 2s" in step.detail
    assert r.report.exit_code == 1
    assert r.fake.calls["a"] == 1


def test_hook_budget_binds_when_it_is_earlier() -> None:
    r = run("""
        [run]
        timeout = "3s"
        on_failure = "continue"
        [[run.steps]]
        name = "a"
        fake = "a"
        timeout = "20s"
        [[run.steps]]
        name = "b"
        fake = "b"
        """, {"a": [("ok", 5.0)], "b": [("ok", 0.1)]})
    assert r.status() == {"a": "timeout", "b": "skipped"}
    assert r.report.steps[0].cut_by_hook and "the hook's budget ran out after 3s" in r.detail("a")
    assert r.detail("b") == "no budget left" and r.report.steps[1].cut_by_hook
    assert r.report.exit_code == 124
    assert r.fake.calls["b"] == 0


def test_attempt_timeout_leads_to_a_retry_not_the_end() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        attempt_timeout = "1s"
        retries = 3
        retry_delay = "500ms"
        """, {"a": [("ok", 5.0), ("ok", 0.2)]})
    assert r.status() == {"a": "ok"}
    assert r.fake.calls["a"] == 2 and r.fake.waits == [0.5]
    assert r.report.steps[0].attempts == 2


def test_retry_counts_and_fixed_delays() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        retries = 2
        retry_delay = "1s"
        """, {"a": [("retry", 0.1)]})
    assert r.status() == {"a": "failed"}
    assert r.fake.calls["a"] == 3 and r.fake.waits == [1.0, 1.0]
    assert "no retries left, 3 attempts" in r.detail("a")
    assert [e.event for e in r.events] == ["start", "retry", "retry", "failed"]


def test_exponential_delays_double_up_to_the_cap_with_jitter() -> None:
    toml = """
        [run]
        timeout = "120s"
        [[run.steps]]
        name = "a"
        fake = "a"
        retries = 5
        retry_delay = "1s"
        backoff = "exponential"
        max_retry_delay = "5s"
        """
    assert run(toml, {"a": [("retry", 0.0)]}, random=1.0).fake.waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert run(toml, {"a": [("retry", 0.0)]}, random=0.0).fake.waits == [0.5, 1.0, 2.0, 2.5, 2.5]


def test_give_up_when_the_next_pause_would_pass_the_step_deadline() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        timeout = "2.5s"
        retries = 10
        retry_delay = "1s"
        """, {"a": [("retry", 0.5)]})
    # attempts end at 0.5, 2.0 (after a 1 s pause); a pause to 3.0 would pass 2.5: give up
    assert r.status() == {"a": "failed"}
    assert r.fake.calls["a"] == 2 and r.fake.waits == [1.0]
    assert "no time for another attempt before the step deadline, 2 attempts" in r.detail("a")
    assert r.report.exit_code == 1


def test_a_polling_kind_is_checked_until_its_deadline() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        poll = "a"
        timeout = "2s"
        """, {"a": [("not_yet", 0.0)]})
    assert r.status() == {"a": "timeout"}
    assert r.fake.calls["a"] == 4  # at 0, 0.5, 1.0, 1.5; the wait to 2.0 reaches the deadline
    assert r.fake.waits == [0.5, 0.5, 0.5, 0.5]


def test_always_runs_after_an_abort_and_others_are_skipped() -> None:
    r = run("""
        [run]
        on_failure = "abort"
        [[run.steps]]
        name = "a"
        fake = "a"
        [[run.steps]]
        name = "b"
        fake = "b"
        [[run.steps]]
        name = "c"
        fake = "c"
        always = true
        """, {"a": [("fail", 0.1)], "b": [("ok", 0.1)], "c": [("ok", 0.1)]})
    assert r.status() == {"a": "failed", "b": "skipped", "c": "ok"}
    assert r.detail("b") == "the hook was aborted after a failed"
    assert r.report.aborted_by == "a" and r.report.exit_code == 1
    assert r.journal.ok == ["c"]


def test_ignore_and_continue() -> None:
    r = run("""
        [run]
        on_failure = "continue"
        [[run.steps]]
        name = "a"
        fake = "a"
        on_failure = "ignore"
        [[run.steps]]
        name = "b"
        fake = "b"
        """, {"a": [("fail", 0.1)], "b": [("ok", 0.1)]})
    assert r.status() == {"a": "failed", "b": "ok"} and r.report.exit_code == 0


def test_a_refused_step_fails_without_running() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        """, {"a": [("ok", 0.1)]}, refuse={"a": "once: nowhere to keep the marker"})
    assert r.status() == {"a": "failed"} and r.fake.calls["a"] == 0
    assert r.detail("a") == "once: nowhere to keep the marker"


def test_interruption_cancels_the_step_and_skips_the_rest() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        [[run.steps]]
        name = "b"
        fake = "b"
        [[run.steps]]
        name = "c"
        fake = "c"
        always = true
        """, {"a": [("ok", 0.1)], "b": [("interrupt", 0.0)], "c": [("ok", 0.1)]})
    assert r.status() == {"a": "ok", "b": "cancelled", "c": "skipped"}
    assert r.detail("c") == "hookrun was interrupted"
    assert r.report.interrupted == 15 and r.report.exit_code == 143
    assert r.fake.calls["c"] == 0


def test_events_carry_elapsed_and_budget_left() -> None:
    r = run("""
        [run]
        timeout = "10s"
        [[run.steps]]
        name = "a"
        fake = "a"
        """, {"a": [("ok", 1.5)]})
    ok = next(e for e in r.events if e.event == "ok")
    assert ok.elapsed_ms == 1500 and ok.budget_left_ms == 8500


# --- reserve and needs --------------------------------------------------------------------------

RESERVED = """
    [run]
    timeout = "10s"
    on_failure = "continue"
    [[run.steps]]
    name = "drain"
    poll = "drain"
    timeout = "9s"
    [[run.steps]]
    name = "quit"
    fake = "quit"
    reserve = "1s"
    [[run.steps]]
    name = "wait-exit"
    poll = "wait"
    reserve = "3s"
    """


def test_a_reserve_cuts_the_steps_before_it() -> None:
    r = run(RESERVED, {"drain": [("not_yet", 0.0)], "quit": [("ok", 0.1)], "wait": [("ok", 0.0)]})
    assert r.status() == {"drain": "timeout", "quit": "ok", "wait-exit": "ok"}
    drain = r.report.steps[0]
    assert not drain.cut_by_hook  # cut for a reserve: its own on_failure, exit 1 at most
    assert "cut at 6s to leave 4s for quit, wait-exit" in drain.detail
    assert r.report.exit_code == 1


def test_a_reserved_step_gets_its_time_even_after_a_slow_step() -> None:
    r = run(RESERVED, {"drain": [("not_yet", 0.0)], "quit": [("ok", 0.5)], "wait": [("not_yet", 0.0)]})
    wait = r.report.steps[2]
    assert wait.status == "timeout" and wait.cut_by_hook  # the hook deadline, at 10 s
    assert r.fake.clock.t - T0 == 10.0
    # quit started at 6 s (drain cut), wait-exit at 6.5 s: 3.5 s of polling, more than its 3 s
    assert r.fake.calls["wait"] == 7


def test_no_time_before_the_reserves_means_not_started() -> None:
    r = run("""
        [run]
        timeout = "4s"
        on_failure = "continue"
        [[run.steps]]
        name = "sleepy"
        fake = "sleepy"
        [[run.steps]]
        name = "quit"
        fake = "quit"
        reserve = "5s"
        """, {"sleepy": [("ok", 1.0)], "quit": [("ok", 0.1)]})
    assert r.status() == {"sleepy": "timeout", "quit": "ok"}
    assert r.fake.calls["sleepy"] == 0
    assert r.detail("sleepy") == "not started; cut at 0s to leave 5s for quit"


def test_needs_skips_at_once_when_a_needed_step_failed() -> None:
    r = run("""
        [poststart]
        [[poststart.steps]]
        name = "health"
        fake = "health"
        on_failure = "ignore"
        [[poststart.steps]]
        name = "notify"
        fake = "notify"
        needs = ["health"]
        """, {"health": [("fail", 0.2)], "notify": [("ok", 0.1)]})
    assert r.status() == {"health": "failed", "notify": "skipped"}
    assert r.detail("notify") == "needs health, which failed"
    assert r.fake.calls["notify"] == 0 and r.report.exit_code == 0  # stop without failing


def test_needs_runs_when_the_needed_step_succeeded() -> None:
    r = run("""
        [run]
        [[run.steps]]
        name = "a"
        fake = "a"
        [[run.steps]]
        name = "b"
        fake = "b"
        needs = ["a"]
        """, {"a": [("ok", 0.2)], "b": [("ok", 0.1)]})
    assert r.status() == {"a": "ok", "b": "ok"}
