"""The step-kind interface and the registry of kinds.

A kind parses its own table, describes a spec in one line without I/O, and makes ONE attempt
against a deadline it is given. It never sleeps between retries and never reads the hook's
budget: the executor owns time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, Literal, TypeVar

from hookrun.config.schema import Where
from hookrun.record import field, record
from hookrun.system.clock import Clock

Status = Literal["ok", "not_yet", "retry", "fail", "timeout"]


@record
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


@record
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
    allotted: float | None = None  # the attempt's time as the executor set its deadline

    def given(self) -> float:
        """The time this attempt was given (for messages): what the executor allotted, not
        what is left after the scheduler let it start."""
        return self.allotted if self.allotted is not None else self.left()

    def left(self) -> float:
        return max(0.0, self.deadline - self.clock.now())


S = TypeVar("S")  # a kind's own spec: a frozen record parsed from its table


def _unknown_duration(spec: object) -> float | None:
    return None


@record
class Kind(Generic[S]):
    """One action. Typed by its spec, so that a kind's functions agree on its fields:
    `Kind("signal", parse, describe, attempt)` is a Kind[Signal] only if all three take a Signal."""

    name: str
    parse: Callable[[object, Where], S | None]
    describe: Callable[[S], str]
    attempt: Callable[[S, AttemptContext], Outcome]
    polling: bool = False  # default: keep checking until the step deadline
    duration: Callable[[S], float | None] = _unknown_duration  # intrinsic run time if known
    poll_interval: float = 0.1  # for polling kinds: how often to re-check at most
    # a step that sets no `retries` is retried until its deadline (None: if the kind polls)
    retries_until_deadline: bool | None = None

    def retried_until_deadline(self) -> bool:
        return self.polling if self.retries_until_deadline is None else self.retries_until_deadline


# Every action of the SPEC: its module in hookrun/steps/ and the Kind that module exports.
_KINDS = {
    "exec": ("exec", "EXEC"), "shell": ("shell", "SHELL"), "http": ("http", "HTTP"),
    "tcp": ("tcp", "TCP"), "sleep": ("sleep", "SLEEP"), "signal": ("signal", "SIGNAL"),
    "wait_exit": ("wait_exit", "WAIT_EXIT"), "drain": ("drain", "DRAIN"),
    "write": ("write", "WRITE"), "wait_file": ("wait_file", "WAIT_FILE"),
    "endpoints": ("endpoints", "ENDPOINTS"), "quiet": ("quiet", "QUIET"),
}
ACTIONS = tuple(_KINDS)


class _Registry(Mapping[str, Kind[Any]]):
    """Action name -> Kind, importing a kind's module the first time it is asked for: a hook
    pays start-up (taken out of the grace period) only for the actions its config uses."""

    def __getitem__(self, action: str) -> Kind[Any]:
        module, name = _KINDS[action]
        kind: Kind[Any] = getattr(importlib.import_module(f"hookrun.steps.{module}"), name)
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(ACTIONS)

    def __len__(self) -> int:
        return len(ACTIONS)


_REGISTRY = _Registry()


def registry() -> Mapping[str, Kind[Any]]:
    return _REGISTRY
