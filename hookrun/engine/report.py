"""What a run produced: events while it runs, a Report at the end. Data only."""

from __future__ import annotations

from typing import Literal, Protocol

from hookrun.config.load import OnFailure
from hookrun.errors import EXIT_BUDGET, EXIT_FAILED, EXIT_OK, exit_for_signal
from hookrun.record import record

Level = Literal["debug", "info", "warning", "error"]
EventName = Literal["start", "output", "retry", "ok", "failed", "skipped", "timeout", "cancelled",
                    "summary"]
Status = Literal["ok", "failed", "timeout", "skipped", "cancelled"]


@record
class Event:
    """One log event (SPEC §5)."""

    time: float  # wall clock, seconds since the epoch
    level: Level
    hook: str
    step: str | None
    event: EventName
    attempt: int | None
    elapsed_ms: int  # since the hook's clock started (process start for budgets)
    budget_left_ms: int
    message: str


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


@record
class StepResult:
    """How one step ended."""

    name: str
    status: Status
    attempts: int
    seconds: float
    detail: str
    on_failure: OnFailure
    cut_by_hook: bool = False  # ended by the hook deadline, or skipped for lack of budget

    @property
    def counts_as_failure(self) -> bool:
        return self.status in ("failed", "timeout", "cancelled") and self.on_failure != "ignore"


@record
class Report:
    """How a run ended: every step, and why it stopped."""

    hook: str
    budget_s: float
    used_s: float  # from the start of the hook's clock (process start) to the end
    steps: tuple[StepResult, ...]
    aborted_by: str | None = None  # the step whose failure aborted the hook
    interrupted: int | None = None  # signal number, when hookrun itself was interrupted

    def count(self, *statuses: Status) -> int:
        return sum(1 for s in self.steps if s.status in statuses)

    @property
    def budget_ran_out(self) -> bool:
        return any(s.cut_by_hook for s in self.steps)

    @property
    def failed(self) -> bool:
        return any(s.counts_as_failure for s in self.steps)

    @property
    def exit_code(self) -> int:
        """SPEC §6: interrupted, budget ran out, a step failed, or ok."""
        if self.interrupted is not None:
            return exit_for_signal(self.interrupted)
        if self.budget_ran_out:
            return EXIT_BUDGET
        if self.failed:
            return EXIT_FAILED
        return EXIT_OK
