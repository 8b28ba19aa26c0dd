"""The step-kind interface and the registry of kinds.

A kind parses its own table, describes a spec in one line without I/O, and makes ONE attempt
against a deadline it is given. It never sleeps between retries and never reads the hook's
budget: the executor owns time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hookrun.deadline import Clock
from hookrun.schema import Fields, Problem

Status = Literal["ok", "not_yet", "retry", "fail", "timeout"]


@dataclass(frozen=True)
class Outcome:
    """Result of one attempt.

    ok: done. not_yet: a polled condition does not hold yet (the executor checks again, waking
    early when one of `wake_fds` becomes readable). retry: this attempt failed, another may
    succeed. fail: failed, do not retry. timeout: the attempt ran into its deadline.
    `wake_fds` are handed over to the executor, which closes them after waiting.
    """

    status: Status
    detail: str
    retry_after: float | None = None
    wake_fds: tuple[int, ...] = ()
    why: str = ""  # for fail: why it is not retried and what to check


def ok(detail: str) -> Outcome:
    return Outcome("ok", detail)


def not_yet(detail: str, wake_fds: tuple[int, ...] = ()) -> Outcome:
    return Outcome("not_yet", detail, wake_fds=wake_fds)


def retry(detail: str, retry_after: float | None = None) -> Outcome:
    return Outcome("retry", detail, retry_after=retry_after)


def fail(detail: str, why: str = "") -> Outcome:
    return Outcome("fail", detail, why=why)


def timeout(detail: str) -> Outcome:
    return Outcome("timeout", detail)


@dataclass(frozen=True)
class AttemptContext:
    """What one attempt may use. `deadline` is absolute on `clock`."""

    hook: str
    step: str
    deadline: float
    clock: Clock
    env: Mapping[str, str]  # the environment for child processes, HOOKRUN_* included
    output: Callable[[str], None]  # log one line of command output
    protected_pids: frozenset[int] = field(default_factory=frozenset)  # never signal these
    # call right before an action that may make PID 1 exit (hookrun dies with it): the
    # executor writes the markers and the summary first, counting the step as done (`detail`)
    before_pid1_exit: Callable[[str], None] = lambda detail: None
    # scratch space a polling kind keeps between the re-checks of this one attempt
    # (e.g. since when a condition holds); new and empty for every attempt
    memo: dict[str, Any] = field(default_factory=dict)

    def left(self) -> float:
        return max(0.0, self.deadline - self.clock.now())


@dataclass(frozen=True)
class Where:
    """Location of an action's value in the config, for problems."""

    step: str  # e.g. 'prestop.steps[1] (name = "drain")'
    action: str
    problems: list[Problem]

    def fields(self, table: Mapping[str, object], allowed: tuple[str, ...]) -> Fields:
        return Fields(table, f"{self.step}.{self.action}", self.problems, allowed)

    def problem(self, message: str) -> None:
        self.problems.append(Problem(self.step, self.action, message))


Spec = Any  # each kind's own frozen dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    parse: Callable[[object, Where], Spec | None]
    describe: Callable[[Spec], str]
    attempt: Callable[[Spec, AttemptContext], Outcome]
    polling: bool = False  # default: keep checking until the step deadline
    duration: Callable[[Spec], float | None] = lambda spec: None  # intrinsic run time if known
    poll_interval: float = 0.1  # for polling kinds: how often to re-check at most


# Every action of the SPEC: its module in hookrun/steps/ and the Kind that module exports.
_KINDS = {
    "exec": ("exec", "EXEC"), "shell": ("exec", "SHELL"), "http": ("http", "HTTP"),
    "tcp": ("tcp", "TCP"), "sleep": ("sleep", "SLEEP"), "signal": ("signal", "SIGNAL"),
    "wait_exit": ("wait_exit", "WAIT_EXIT"), "drain": ("drain", "DRAIN"),
    "write": ("write", "WRITE"), "wait_file": ("wait_file", "WAIT_FILE"),
}
ACTIONS = tuple(_KINDS)


class _Registry(Mapping[str, Kind]):
    """Action name -> Kind, importing a kind's module the first time it is asked for: a hook
    pays start-up (taken out of the grace period) only for the actions its config uses."""

    def __getitem__(self, action: str) -> Kind:
        module, name = _KINDS[action]
        kind: Kind = getattr(importlib.import_module(f"hookrun.steps.{module}"), name)
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(ACTIONS)

    def __len__(self) -> int:
        return len(ACTIONS)


_REGISTRY = _Registry()


def registry() -> Mapping[str, Kind]:
    return _REGISTRY
