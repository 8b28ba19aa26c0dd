"""What a run produced: events while it runs, a Report at the end. Data only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

EVENTS = ("start", "output", "retry", "ok", "failed", "skipped", "timeout", "cancelled", "summary")


@dataclass(frozen=True)
class Event:
    time: float  # wall clock, seconds since the epoch
    level: str  # debug | info | warning | error
    hook: str
    step: str | None
    event: str  # one of EVENTS
    attempt: int | None
    elapsed_ms: int  # since the hook's clock started (process start for budgets)
    budget_left_ms: int
    message: str


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # ok | failed | timeout | skipped | cancelled
    attempts: int
    seconds: float
    detail: str
    on_failure: str
    cut_by_hook: bool = False  # ended by the hook deadline, or skipped for lack of budget
    done_before: bool = False  # skipped because a `once` marker says it already succeeded

    @property
    def counts_as_failure(self) -> bool:
        return self.status in ("failed", "timeout", "cancelled") and self.on_failure != "ignore"


@dataclass(frozen=True)
class Report:
    hook: str
    budget_s: float
    used_s: float  # from the start of the hook's clock (process start) to the end
    steps: tuple[StepResult, ...]
    aborted_by: str | None = None  # the step whose failure aborted the hook
    interrupted: int | None = None  # signal number, when hookrun itself was interrupted

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.steps if s.status in statuses)

    @property
    def budget_ran_out(self) -> bool:
        return any(s.cut_by_hook for s in self.steps)

    @property
    def failed(self) -> bool:
        return any(s.counts_as_failure for s in self.steps)
