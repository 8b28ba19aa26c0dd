"""Plan -> Report: runs the steps, owns every deadline, retry and wait. Never prints.

Three nested deadlines bound each attempt: the hook's budget, the step's `timeout`, the
attempt's `attempt_timeout`. What must outlive the run (markers, the summary, the termination
message) goes through one Checkpoint, which the service (engine/service.py) implements.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from hookrun.config.schema import Where
from hookrun.config.templates import expand_tree, read_file
from hookrun.config.values import format_duration as fmt
from hookrun.config.values import format_time
from hookrun.engine.deadline import Deadline, Level
from hookrun.engine.plan import Plan, PlannedStep
from hookrun.engine.report import Event, EventName, Report, Sink, Status, StepResult
from hookrun.engine.report import Level as LogLevel
from hookrun.engine.retry import next_delay
from hookrun.errors import BadTemplate, Interrupted, Problem, UnsetVariable
from hookrun.record import field, record
from hookrun.steps import AttemptContext, Kind, Outcome, registry
from hookrun.steps import timeout as timeout_outcome
from hookrun.system.clock import Clock, chunk
from hookrun.system.output import ready

S = TypeVar("S")


def real_wait(seconds: float, fds: tuple[int, ...]) -> None:
    """Wait `seconds`, or less when one of `fds` becomes readable."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if not fds:
            time.sleep(chunk(left))
            continue
        if ready(fds, chunk(left)):
            return


def real_random() -> float:
    """A uniform number in [0, 1) for retry jitter; `random` is imported by the first retry."""
    import random

    return random.random()


class Checkpoint(Protocol):
    """Where the run's lasting effects go, in order: before a step, after its success, and
    the final account of the run when it must be written ahead (PID 1 is about to be
    signalled: if it exits, the kernel kills every process of its namespace, hookrun too)."""

    def refusal(self, step: PlannedStep) -> str | None:
        """A reason the step must not run (it then fails without running), or None."""

    def succeeded(self, step: PlannedStep) -> str | None:
        """Record the step's success (its `once` marker); a problem to report, or None."""

    def final(self, report: Report) -> None:
        """Write the account of the run ahead of a step that may end hookrun."""


class NoCheckpoint:
    """Nothing lasts: for dry plans and tests."""

    def refusal(self, step: PlannedStep) -> str | None:
        return None

    def succeeded(self, step: PlannedStep) -> str | None:
        return None

    def final(self, report: Report) -> None:
        return None


@record
class Runtime:
    """What the executor runs with: clock, sinks, waits, the checkpoint."""

    clock: Clock
    emit: Sink
    env: Mapping[str, str]  # base environment for children and templates
    started_at: float  # clock time at which the hook's budget started counting
    wall: Callable[[], float] = time.time
    wait: Callable[[float, tuple[int, ...]], None] = real_wait
    random: Callable[[], float] = real_random
    protected_pids: frozenset[int] = field(default_factory=frozenset)
    checkpoint: Checkpoint = field(default_factory=NoCheckpoint)
    kinds: Mapping[str, Kind[Any]] = field(default_factory=registry)


def execute(plan: Plan, rt: Runtime) -> Report:
    return _Run(plan, rt).all()


class _Run:
    def __init__(self, plan: Plan, rt: Runtime) -> None:
        self.plan, self.rt = plan, rt
        self.deadline = Deadline(rt.started_at + plan.budget_s, "hook")
        self.results: list[StepResult] = []
        self.aborted_by: str | None = None
        self.good: set[str] = set()  # steps that succeeded, or were skipped as done before
        self.final: Report | None = None  # the account written ahead of stopping PID 1

    # --- events ---------------------------------------------------------------
    def emit(self, step: str | None, event: EventName, message: str, attempt: int | None = None,
             level: LogLevel = "info") -> None:
        now = self.rt.clock.now()
        self.rt.emit(Event(
            time=self.rt.wall(), level=level, hook=self.plan.hook, step=step, event=event,
            attempt=attempt, elapsed_ms=int((now - self.rt.started_at) * 1000),
            budget_left_ms=int(self.deadline.left(now) * 1000), message=message,
        ))

    def result(self, ps: PlannedStep, status: Status, attempts: int, seconds: float, detail: str,
               cut_by_hook: bool = False) -> StepResult:
        return StepResult(ps.name, status, attempts, seconds, detail, ps.on_failure, cut_by_hook)

    def skip(self, ps: PlannedStep, reason: str, cut: bool = False) -> StepResult:
        self.emit(ps.name, "skipped", reason, level="warning" if cut else "info")
        return self.result(ps, "skipped", 0, 0.0, reason, cut)

    # --- the hook ---------------------------------------------------------------
    def all(self) -> Report:
        interrupted: int | None = None
        for ps in self.plan.steps:
            if self.final is not None:  # PID 1 was signalled: the account is written
                return self.final
            if interrupted is not None:
                result = self.skip(ps, "hookrun was interrupted")
            else:
                try:
                    result = self.one(ps)
                except Interrupted as signal:
                    interrupted = signal.signum
                    result = self.cancelled(ps, "hookrun was interrupted")
            self.results.append(result)
            if result.status == "ok" or (result.status == "skipped" and ps.skip_reason):
                self.good.add(ps.name)
            if result.status in ("failed", "timeout", "cancelled") and result.on_failure == "abort" \
                    and self.aborted_by is None:
                self.aborted_by = ps.name
        return self.final or self.report(tuple(self.results), interrupted)

    def one(self, ps: PlannedStep) -> StepResult:
        """Run the step, or say why it does not run."""
        if ps.skip_reason:
            return self.skip(ps, ps.skip_reason)
        if self.aborted_by is not None and not ps.always:
            return self.skip(ps, f"the hook was aborted after {self.aborted_by} failed")
        unmet = [name for name in ps.needs if name not in self.good]
        if unmet:
            return self.skip(ps, "needs " + ", ".join(f"{name}, which {self.outcome(name)}"
                                                      for name in unmet))
        if ps.unless and all(name in self.good for name in ps.unless):
            return self.skip(ps, "not needed: " + ", ".join(ps.unless) + " succeeded (unless)")
        now = self.rt.clock.now()
        if self.deadline.passed(now):
            return self.skip(ps, "no budget left", cut=True)
        if self.reserve_deadline(ps).passed(now):
            return self.timed_out(ps, 0, 0.0, "not started", "reserve")
        refusal = self.rt.checkpoint.refusal(ps)
        return self.failed(ps, 0, 0.0, refusal) if refusal else self.step(ps)

    def outcome(self, name: str) -> str:
        """How an earlier step ended, in words: "failed", "timed out", "was skipped"..."""
        status = next((r.status for r in self.results if r.name == name), "skipped")
        return {"failed": "failed", "timeout": "timed out", "cancelled": "was cancelled"}.get(
            status, "was skipped")

    def reserve_deadline(self, ps: PlannedStep) -> Deadline:
        """The hook's deadline, less the reserves of the steps after this one."""
        if ps.reserved_after_s <= 0:
            return self.deadline
        return Deadline(self.deadline.at - ps.reserved_after_s, "reserve")

    def report(self, steps: tuple[StepResult, ...], interrupted: int | None = None) -> Report:
        used = self.rt.clock.now() - self.rt.started_at
        return Report(self.plan.hook, self.plan.budget_s, used, steps, self.aborted_by, interrupted)

    def before_pid1_exit(self, ps: PlannedStep, attempt: int, began: float, detail: str) -> None:
        """The step is about to stop PID 1, and with it the container and hookrun: the run ends
        here. Its whole account is written now, before the signal: this step done (marker
        included), every later step skipped, the summary last. After the signal nothing more
        is logged; hookrun only waits for PID 1 to exit, at most until the budget ends."""
        done = self.succeeded(ps, attempt, self.rt.clock.now() - began, detail)
        rest = [self.skip(later, "PID 1 was signalled; the container stops when it exits")
                for later in self.plan.steps[ps.index:]]
        self.final = self.report((*self.results, done, *rest))
        self.rt.checkpoint.final(self.final)

    def cancelled(self, ps: PlannedStep, message: str) -> StepResult:
        self.emit(ps.name, "cancelled", message, level="warning")
        return self.result(ps, "cancelled", 0, 0.0, message)

    # --- one step ---------------------------------------------------------------
    def step(self, ps: PlannedStep) -> StepResult:
        clock, kind = self.rt.clock, self.rt.kinds[ps.action]
        began = clock.now()
        step_deadline = self.reserve_deadline(ps).within(ps.timeout_s, "step", began)
        left = fmt(step_deadline.left(began))
        if step_deadline.source == "reserve":
            limit = (f"{left} at most, to leave {fmt(ps.reserved_after_s)} for "
                     f"{', '.join(ps.reserved_for)}")
        elif ps.timeout_s:
            limit = f"timeout {fmt(ps.timeout_s)}"
        else:
            limit = f"until the hook deadline in {left}"
        self.emit(ps.name, "start", f"{ps.describe} ({limit})", 1)
        attempt = 0
        while True:
            attempt += 1
            now = clock.now()
            attempt_deadline = step_deadline.within(ps.attempt_timeout_s, "attempt", now)
            outcome = self.attempt(kind, ps, attempt, attempt_deadline, began, attempt_deadline.at - now)
            spent = clock.now() - began
            if self.final is not None:  # accounted for ahead of the signal to PID 1
                return self.final.steps[ps.index - 1]
            if outcome.status == "ok":
                return self.succeeded(ps, attempt, spent, outcome.detail)
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

    def succeeded(self, ps: PlannedStep, attempt: int, spent: float, detail: str) -> StepResult:
        problem = self.rt.checkpoint.succeeded(ps)
        self.emit(ps.name, "ok", f"{detail} in {fmt(spent)}" + (f"; but {problem}" if problem else ""),
                  attempt, level="warning" if problem else "info")
        return self.result(ps, "ok", attempt, spent, detail)

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
        level: LogLevel = "warning" if ps.on_failure == "ignore" else "error"
        self.emit(ps.name, "failed", f"{detail}; on_failure = {ps.on_failure}", attempt, level)
        return self.result(ps, "failed", attempt, spent, detail)

    def timed_out(self, ps: PlannedStep, attempt: int, spent: float, detail: str,
                  source: Level) -> StepResult:
        if source == "reserve":
            cut_at = self.rt.clock.now() - self.rt.started_at
            message = (f"{detail}; cut at {fmt(cut_at)} to leave {fmt(ps.reserved_after_s)} for "
                       f"{', '.join(ps.reserved_for)}")
        else:
            what = "the hook's budget ran out" if source == "hook" else \
                f"step timeout {fmt(ps.timeout_s or 0)} reached"
            message = f"{detail}; {what} after {fmt(spent)}"
        level: LogLevel = "warning" if ps.on_failure == "ignore" else "error"
        self.emit(ps.name, "timeout", message, attempt, level)
        return self.result(ps, "timeout", attempt, spent, message, cut_by_hook=source == "hook")

    def attempt(self, kind: Kind[S], ps: PlannedStep, number: int, deadline: Deadline,
                began: float, allotted: float) -> Outcome:
        """One attempt; a polling kind is re-checked until it holds or the deadline passes."""
        clock = self.rt.clock
        env = self.child_env(ps)
        spec = self.spec_for(kind, ps, env)
        if isinstance(spec, Problem):
            return Outcome("fail", f"the step's values do not expand: {spec.message}")
        ctx = AttemptContext(
            hook=self.plan.hook, step=ps.name, deadline=deadline.at, clock=clock, env=env,
            output=lambda line: self.emit(ps.name, "output", line, number),
            protected_pids=self.rt.protected_pids,
            before_pid1_exit=lambda detail: self.before_pid1_exit(ps, number, began, detail),
            allotted=allotted,
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

    @staticmethod
    def spec_for(kind: Kind[S], ps: PlannedStep, env: Mapping[str, str]) -> S | Problem:
        """The action re-read with this attempt's variables (HOOKRUN_DEADLINE changes) and the
        files its ${file:PATH} templates name; what is wrong with it, else."""
        problems: list[Problem] = []
        try:
            value = expand_tree(ps.step.raw, env, read_file)
        except UnsetVariable as err:
            return Problem(ps.step.where, ps.action, f"${{{err.name}}} is not set")
        except BadTemplate as err:
            return Problem(ps.step.where, ps.action, str(err))
        spec = kind.parse(value, Where(ps.step.where, ps.action, problems))
        if spec is None or problems:
            return problems[0] if problems else Problem(ps.step.where, ps.action, "not valid")
        return spec
