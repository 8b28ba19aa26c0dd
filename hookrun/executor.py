"""Plan -> Report: runs the steps, owns every deadline, retry and wait. Never prints."""

from __future__ import annotations

import os
import random
import selectors
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hookrun.deadline import Clock, Deadline
from hookrun.plan import Plan, PlannedStep
from hookrun.report import Event, Report, Sink, StepResult
from hookrun.retry import next_delay
from hookrun.schema import Problem
from hookrun.steps import AttemptContext, Kind, Outcome, Where, registry
from hookrun.steps import timeout as timeout_outcome
from hookrun.templates import BadTemplate, UnsetVariable, expand_tree
from hookrun.values import format_duration as fmt
from hookrun.values import format_time


class Interrupted(BaseException):
    """Raised (from a signal handler) when hookrun itself is asked to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def real_wait(seconds: float, fds: tuple[int, ...]) -> None:
    """Wait `seconds`, or less when one of `fds` becomes readable."""
    if seconds <= 0:
        return
    if not fds:
        time.sleep(seconds)
        return
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        sel.select(seconds)


@dataclass(frozen=True)
class Runtime:
    clock: Clock
    emit: Sink
    env: Mapping[str, str]  # base environment for children and templates
    started_at: float  # clock time at which the hook's budget started counting
    wall: Callable[[], float] = time.time
    wait: Callable[[float, tuple[int, ...]], None] = real_wait
    random: Callable[[], float] = random.random
    protected_pids: frozenset[int] = field(default_factory=frozenset)
    # after a step succeeded, before its ok event (e.g. write a `once` marker): a problem or None
    on_step_ok: Callable[[PlannedStep], str | None] = lambda step: None
    # a reason the step must not run (it then fails without running), e.g. a `once` step
    # with nowhere to keep its marker
    check_step: Callable[[PlannedStep], str | None] = lambda step: None
    # a complete report written ahead, before a step signals PID 1: if PID 1 exits, the
    # kernel kills every process of its PID namespace, hookrun included
    on_final: Callable[[Report], object] = lambda report: None


def execute(plan: Plan, rt: Runtime) -> Report:
    hook_deadline = Deadline(rt.started_at + plan.budget_s, "hook")
    run = _Run(plan, rt, hook_deadline, registry())
    return run.all()


class _Run:
    def __init__(self, plan: Plan, rt: Runtime, deadline: Deadline, kinds: Mapping[str, Kind]):
        self.plan, self.rt, self.deadline, self.kinds = plan, rt, deadline, kinds
        self.results: list[StepResult] = []
        self.aborted_by: str | None = None

    # --- events ---------------------------------------------------------------
    def emit(self, step: str | None, event: str, message: str, attempt: int | None = None,
             level: str = "info") -> None:
        now = self.rt.clock.now()
        self.rt.emit(Event(
            time=self.rt.wall(), level=level, hook=self.plan.hook, step=step, event=event,
            attempt=attempt, elapsed_ms=int((now - self.rt.started_at) * 1000),
            budget_left_ms=int(self.deadline.left(now) * 1000), message=message,
        ))

    def skip(self, ps: PlannedStep, reason: str, cut: bool = False, done: bool = False) -> None:
        self.results.append(StepResult(ps.name, "skipped", 0, 0.0, reason, ps.on_failure, cut, done))
        self.emit(ps.name, "skipped", reason, level="warning" if cut else "info")

    # --- the hook ---------------------------------------------------------------
    def all(self) -> Report:
        interrupted: int | None = None
        for ps in self.plan.steps:
            if interrupted is not None:
                self.skip(ps, "hookrun was interrupted")
            elif ps.skip_reason:
                self.skip(ps, ps.skip_reason, done=True)
            elif self.aborted_by is not None and not ps.always:
                self.skip(ps, f"the hook was aborted after {self.aborted_by} failed")
            elif self.deadline.passed(self.rt.clock.now()):
                self.skip(ps, "no budget left", cut=True)
            else:
                refusal = self.rt.check_step(ps)
                try:
                    result = self.failed(ps, 0, 0.0, refusal) if refusal else self.step(ps)
                except Interrupted as signal:
                    interrupted = signal.signum
                    result = self.cancelled(ps, "hookrun was interrupted")
                self.results.append(result)
                if result.status != "ok" and result.on_failure == "abort" and self.aborted_by is None:
                    self.aborted_by = ps.name
        used = self.rt.clock.now() - self.rt.started_at
        return Report(self.plan.hook, self.plan.budget_s, used, tuple(self.results),
                      self.aborted_by, interrupted)

    def before_pid1_exit(self, ps: PlannedStep, attempt: int, began: float, detail: str) -> None:
        """Write now what must survive PID 1's exit: this step counts as done (marker
        included), the steps after it cannot run. If PID 1 lives on, the run simply goes on."""
        problem = self.rt.on_step_ok(ps)
        now = self.rt.clock.now()
        done = StepResult(ps.name, "ok", attempt, now - began,
                          detail + (f"; but {problem}" if problem else ""), ps.on_failure)
        rest = tuple(StepResult(later.name, "skipped", 0, 0.0, "PID 1 was signalled; the "
                                "container stops when it exits", later.on_failure)
                     for later in self.plan.steps[ps.index:])
        self.rt.on_final(Report(self.plan.hook, self.plan.budget_s, now - self.rt.started_at,
                                (*self.results, done, *rest), self.aborted_by))

    def cancelled(self, ps: PlannedStep, message: str) -> StepResult:
        self.emit(ps.name, "cancelled", message, level="warning")
        return StepResult(ps.name, "cancelled", 0, 0.0, message, ps.on_failure)

    # --- one step ---------------------------------------------------------------
    def step(self, ps: PlannedStep) -> StepResult:
        clock, kind = self.rt.clock, self.kinds[ps.action]
        began = clock.now()
        step_deadline = self.deadline.within(ps.timeout_s, "step", began)
        limit = f"timeout {fmt(ps.timeout_s)}" if ps.timeout_s else \
            f"until the hook deadline in {fmt(step_deadline.left(began))}"
        self.emit(ps.name, "start", f"{ps.describe} ({limit})", 1)
        attempt = 0
        while True:
            attempt += 1
            now = clock.now()
            attempt_deadline = step_deadline.within(ps.attempt_timeout_s, "attempt", now)
            outcome = self.attempt(kind, ps, attempt, attempt_deadline, began)
            spent = clock.now() - began
            if outcome.status == "ok":
                problem = self.rt.on_step_ok(ps)
                self.emit(ps.name, "ok", f"{outcome.detail} in {fmt(spent)}" +
                          (f"; but {problem}" if problem else ""), attempt,
                          level="warning" if problem else "info")
                return StepResult(ps.name, "ok", attempt, spent, outcome.detail, ps.on_failure)
            if outcome.status == "fail":
                why = f": {outcome.why}" if outcome.why else ""
                return self.failed(ps, attempt, spent, f"{outcome.detail} (not retried{why})")
            now = clock.now()
            if outcome.status == "timeout" and attempt_deadline.source != "attempt":
                return self.timed_out(ps, attempt, spent, outcome.detail, attempt_deadline.source)
            delay = next_delay(ps.retry, attempt, now, step_deadline.at, self.rt.random,
                               outcome.retry_after)
            if delay is None:
                return self.give_up(ps, attempt, spent, outcome, step_deadline, now)
            self.emit(ps.name, "retry", f"attempt {attempt} failed: {outcome.detail}; "
                      f"retrying in {fmt(delay)}", attempt, level="warning")
            self.rt.wait(delay, ())

    def give_up(self, ps: PlannedStep, attempt: int, spent: float, outcome: Outcome,
                step_deadline: Deadline, now: float) -> StepResult:
        retries = ps.retry.retries
        if retries is not None and attempt > retries:
            why = "no retries left" if retries else "no retries configured"
        else:
            why = f"no time for another attempt before the {step_deadline.source} deadline"
        if step_deadline.passed(now):
            return self.timed_out(ps, attempt, spent, outcome.detail, step_deadline.source)
        return self.failed(ps, attempt, spent, f"{outcome.detail} ({why}, {attempt} attempt"
                           f"{'s' if attempt > 1 else ''})")

    def failed(self, ps: PlannedStep, attempt: int, spent: float, detail: str) -> StepResult:
        level = "warning" if ps.on_failure == "ignore" else "error"
        self.emit(ps.name, "failed", f"{detail}; on_failure = {ps.on_failure}", attempt, level)
        return StepResult(ps.name, "failed", attempt, spent, detail, ps.on_failure)

    def timed_out(self, ps: PlannedStep, attempt: int, spent: float, detail: str,
                  source: str) -> StepResult:
        what = "the hook's budget ran out" if source == "hook" else \
            f"step timeout {fmt(ps.timeout_s or 0)} reached"
        message = f"{detail}; {what} after {fmt(spent)}"
        level = "warning" if ps.on_failure == "ignore" else "error"
        self.emit(ps.name, "timeout", message, attempt, level)
        return StepResult(ps.name, "timeout", attempt, spent, message, ps.on_failure,
                          cut_by_hook=source == "hook")

    def attempt(self, kind: Kind, ps: PlannedStep, number: int, deadline: Deadline,
                began: float) -> Outcome:
        """One attempt; a polling kind is re-checked until it holds or the deadline passes."""
        clock = self.rt.clock
        env = self.child_env(ps)
        spec = self.spec_for(kind, ps, env)
        if spec is None:
            return Outcome("fail", "the step's values do not expand (see the config error above)")
        ctx = AttemptContext(
            hook=self.plan.hook, step=ps.name, deadline=deadline.at, clock=clock, env=env,
            output=lambda line: self.emit(ps.name, "output", line, number),
            protected_pids=self.rt.protected_pids,
            before_pid1_exit=lambda detail: self.before_pid1_exit(ps, number, began, detail),
        )
        while True:
            outcome = kind.attempt(spec, ctx)
            if outcome.status != "not_yet":
                return outcome
            try:
                left = deadline.left(clock.now())
                if left <= 0:
                    return timeout_outcome(outcome.detail)
                self.rt.wait(min(kind.poll_interval, left), outcome.wake_fds)
            finally:
                for fd in outcome.wake_fds:  # handed over by the step: ours to close
                    os.close(fd)
            if deadline.passed(clock.now()):  # waited up to the deadline: no time for a check
                return timeout_outcome(outcome.detail)

    def child_env(self, ps: PlannedStep) -> dict[str, str]:
        return {
            **self.rt.env,
            "HOOKRUN_HOOK": self.plan.hook,
            "HOOKRUN_STEP": ps.name,
            "HOOKRUN_TIME": format_time(self.rt.wall()),
            "HOOKRUN_DEADLINE": f"{self.deadline.left(self.rt.clock.now()):.3f}",
        }

    def spec_for(self, kind: Kind, ps: PlannedStep, env: Mapping[str, str]) -> object | None:
        """The action re-read with this attempt's variables (HOOKRUN_DEADLINE changes)."""
        problems: list[Problem] = []
        try:
            value = expand_tree(ps.step.raw, env)
        except (UnsetVariable, BadTemplate):
            return None
        spec = kind.parse(value, Where(ps.step.where, ps.action, problems))
        return None if problems else spec
