"""Config -> Plan: pure. The plan is both what `hookrun plan` prints and what a run executes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from hookrun.config.load import Config, Hook, Once, OnFailure, Settings, Source, Step, load_source
from hookrun.config.values import format_duration as fmt
from hookrun.engine.retry import RetryPolicy, worst_case_delays
from hookrun.errors import ConfigError, Problem
from hookrun.record import record
from hookrun.steps import Kind, registry

PLAN_FORMAT = 1
DEFAULT_HOOK_TIMEOUT = 60.0


@record
class PlannedStep:
    """A step with its deadlines, attempts and worst case worked out."""

    index: int
    name: str
    action: str
    describe: str
    timeout_s: float | None  # the step's own deadline; None: until the hook deadline
    attempt_timeout_s: float | None
    attempts: int | None  # None: as many as fit before the deadline (polling actions)
    worst_case_s: float  # at most what is left of the budget at starts_by_s
    unbounded: bool  # nothing but the hook deadline bounds this step
    starts_by_s: float  # latest start, seconds after the hook started
    on_failure: OnFailure
    once: Once | None
    always: bool
    skip_reason: str | None
    retry: RetryPolicy
    step: Step
    reserve_s: float = 0.0  # time guaranteed to this step
    reserved_after_s: float = 0.0  # the reserves of the steps after it that will run
    deadline_s: float = 0.0  # latest end, seconds after the hook started: budget - reserved_after
    reserved_for: tuple[str, ...] = ()  # the steps after it that hold those reserves
    needs: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    uncut_s: float | None = None  # the worst case before a cut for reserves (None: unbounded)


@record
class Plan:
    """A hook's steps in order, with the budget and the warnings."""

    hook: str
    budget_s: float
    budget_from: str
    worst_case_s: float
    fits: bool
    steps: tuple[PlannedStep, ...]
    warnings: tuple[str, ...]
    reserved_s: float = 0.0  # the reserves of every step that will run

    def to_json(self) -> dict[str, object]:
        return {
            "format": PLAN_FORMAT,
            "hook": self.hook,
            "budget_s": _r(self.budget_s),
            "budget_from": self.budget_from,
            "worst_case_s": _r(self.worst_case_s),
            "fits": self.fits,
            "reserved_s": _r(self.reserved_s),
            "steps": [
                {
                    "name": s.name,
                    "action": s.action,
                    "describe": s.describe,
                    "timeout_s": None if s.timeout_s is None else _r(s.timeout_s),
                    "attempt_timeout_s": None if s.attempt_timeout_s is None else _r(s.attempt_timeout_s),
                    "attempts": s.attempts,
                    "worst_case_s": _r(s.worst_case_s),
                    "starts_by_s": _r(s.starts_by_s),
                    "on_failure": s.on_failure,
                    "once": s.once or False,
                    "always": s.always,
                    "skip_reason": s.skip_reason,
                    "reserve_s": _r(s.reserve_s),
                    "deadline_s": _r(s.deadline_s),
                    "needs": list(s.needs),
                    "unless": list(s.unless),
                }
                for s in self.steps
            ],
            "warnings": list(self.warnings),
        }


def _r(value: float) -> float:
    return round(value, 3)


def hook_budget(settings: Settings, hook: Hook) -> tuple[float, str]:
    """The hook's budget in seconds, and where it comes from (SPEC §3)."""
    if hook.timeout is not None:
        return hook.timeout, f"{hook.name}.timeout {fmt(hook.timeout)}"
    if hook.name == "prestop":
        budget = settings.grace_period - settings.shutdown_reserve
        source = (f"grace_period {fmt(settings.grace_period)} - shutdown_reserve "
                  f"{fmt(settings.shutdown_reserve)}")
        if budget <= 0:
            raise ConfigError("", [Problem("settings", "grace_period", f"{source} leaves no time for "
                                           "prestop (raise grace_period or lower shutdown_reserve)")])
        return budget, source
    return DEFAULT_HOOK_TIMEOUT, f"default timeout {fmt(DEFAULT_HOOK_TIMEOUT)}"


def read_config(path: str | Source, env: Mapping[str, str]) -> Config:
    """Load a config (a path, or any Source) with every step kind of this build."""
    return load_source(path if isinstance(path, Source) else Source.at(path), env, registry())


def budget_for(config: Config, hook: str) -> float:
    """The budget of a hook named on the command line; a located ConfigError if there is
    no such hook or it leaves no time."""
    if hook not in config.hooks:
        defined = ", ".join(sorted(config.hooks)) or "none"
        raise ConfigError(config.path, [Problem("", None, f'no hook "{hook}" in this config '
                                                f"(hooks defined: {defined})")])
    try:
        return hook_budget(config.settings, config.hooks[hook])[0]
    except ConfigError as err:
        raise ConfigError(config.path, err.problems) from None


def plan_for(config: Config, hook: str, done: Mapping[str, str] | None = None) -> Plan:
    """The plan of a hook named on the command line (see budget_for for its errors)."""
    budget_for(config, hook)
    return build_plan(config, hook, done)


def build_plan(config: Config, hook_name: str, done: Mapping[str, str] | None = None,
               kinds: Mapping[str, Kind[Any]] | None = None) -> Plan:
    """`done` maps step names to a reason they are skipped (e.g. a `once` marker exists);
    `kinds` are the step kinds (this build's registry unless given)."""
    hook = config.hooks[hook_name]
    budget, source = hook_budget(config.settings, hook)
    kinds = registry() if kinds is None else kinds
    done = done or {}
    reserves = [0.0 if done.get(step.name) else step.reserve for step in hook.steps]
    planned: list[PlannedStep] = []
    worlds = _worlds(hook.steps)
    elapsed = [0.0] * len(worlds)  # per world: worst-case time used before the step starts
    for index, step in enumerate(hook.steps, start=1):
        kind = kinds[step.action]
        skip = done.get(step.name)
        own, unbounded = (0.0, False) if skip else _worst_case(step, kind)
        uncut = None if unbounded else own
        after = sum(reserves[index:])
        deadline = budget - after
        runs = [w for w, world in enumerate(worlds) if _runs_in(step, world)] or list(range(len(worlds)))
        cases = []  # (end, start, worst case) in each world where the step may run
        for w in runs:
            wc = own
            if unbounded:
                wc = max(0.0, deadline - elapsed[w])
            elif after > 0:  # cut to leave the reserves of the steps after it
                wc = min(wc, max(0.0, deadline - elapsed[w]))
            cases.append((elapsed[w] + wc, elapsed[w], wc))
            elapsed[w] += wc
        _, starts_by, wc = max(cases)  # the world where it ends latest
        holders = tuple(s.name for s, r in zip(hook.steps[index:], reserves[index:], strict=True) if r)
        planned.append(PlannedStep(
            index=index, name=step.name, action=step.action, describe=kind.describe(step.spec),
            timeout_s=step.timeout, attempt_timeout_s=step.attempt_timeout,
            attempts=_attempts(step, kind), worst_case_s=wc,
            unbounded=unbounded, starts_by_s=starts_by, on_failure=step.on_failure or hook.on_failure,
            once=step.once, always=step.always, skip_reason=skip, retry=_policy(step, kind),
            step=step, reserve_s=reserves[index - 1], reserved_after_s=after, deadline_s=deadline,
            reserved_for=holders, needs=step.needs, unless=step.unless, uncut_s=uncut,
        ))
    worst = max(elapsed)
    reserved = sum(reserves)
    warnings = _warnings(config.settings, hook, budget, planned, worst)
    fits = worst <= budget + 1e-9 and reserved <= budget + 1e-9
    return Plan(hook_name, budget, source, worst, fits, tuple(planned), tuple(warnings), reserved)


World = dict[frozenset[str], bool]  # for each `unless` list: whether all of its steps succeeded
MAX_CONDITIONS = 4  # more distinct `unless` lists: every step is counted in one sequence


def _worlds(steps: tuple[Step, ...]) -> list[World]:
    """The ways the hook can go as far as the worst case is concerned. A step with `unless = U`
    and one with `needs` including U never both run (the first runs only if a step of U did not
    succeed, the second only if all did), so the worst case is the longest of those ways, not
    their sum. A world that cannot happen only makes the worst case larger, never smaller."""
    conditions = sorted({frozenset(s.unless) for s in steps if s.unless}, key=sorted)
    if not conditions or len(conditions) > MAX_CONDITIONS:
        return [{}]
    return [dict(zip(conditions, outcome, strict=True))
            for outcome in itertools.product((True, False), repeat=len(conditions))]


def _runs_in(step: Step, world: World) -> bool:
    for names, succeeded in world.items():
        if succeeded and step.unless and frozenset(step.unless) == names:
            return False
        if not succeeded and names <= set(step.needs):
            return False
    return True


def _attempts(step: Step, kind: Kind[Any]) -> int | None:
    if step.retries is None:
        return None if kind.retried_until_deadline() else 1
    return step.retries + 1


def _policy(step: Step, kind: Kind[Any]) -> RetryPolicy:
    retries = step.retries if step.retries is not None or kind.retried_until_deadline() else 0
    return RetryPolicy(retries, step.retry_delay, step.backoff, step.max_retry_delay)


def _worst_case(step: Step, kind: Kind[Any]) -> tuple[float, bool]:
    """The step's own worst case in seconds, or (0, True) when only the hook deadline bounds it."""
    intrinsic = kind.duration(step.spec)
    if step.timeout is not None:
        return (min(step.timeout, intrinsic) if intrinsic is not None else step.timeout), False
    if intrinsic is not None:
        return intrinsic, False
    attempts = _attempts(step, kind)
    if step.attempt_timeout is not None and attempts is not None:
        delays = worst_case_delays(_policy(step, kind), attempts - 1)
        return attempts * step.attempt_timeout + delays, False
    return 0.0, True


def _warnings(settings: Settings, hook: Hook, budget: float, steps: list[PlannedStep],
              total: float) -> list[str]:
    warnings = []
    cut = [s.name for s in steps if s.starts_by_s + s.worst_case_s > budget + 1e-9
           or (s.starts_by_s >= budget and s.skip_reason is None)]
    if total > budget + 1e-9:
        warnings.append(f"worst case {fmt(total)} exceeds the budget {fmt(budget)}: "
                        f"{', '.join(cut)} may be cut or skipped")
    reserved = sum(s.reserve_s for s in steps)
    if reserved > budget + 1e-9:
        holders = " + ".join(f"{s.name} {fmt(s.reserve_s)}" for s in steps if s.reserve_s)
        warnings.append(f"the reserves alone ({holders} = {fmt(reserved)}) exceed the budget "
                        f"{fmt(budget)}: they cannot all be kept")
    for s in steps:
        own = s.uncut_s
        if s.reserved_after_s > 0 and s.skip_reason is None and (own is None or own > s.worst_case_s + 1e-9):
            warnings.append(f"{s.name} may be cut at {fmt(max(0.0, s.deadline_s))} to leave "
                            f"{fmt(s.reserved_after_s)} for {', '.join(s.reserved_for)}")
    for s in steps[:-1]:
        if s.unbounded and s.skip_reason is None and s.reserved_after_s == 0:
            warnings.append(f"{s.name} has no timeout: if it hangs it uses the rest of the budget "
                            "and the steps after it are skipped (set timeout)")
    if hook.name == "prestop" and hook.timeout is not None:
        limit = settings.grace_period - settings.shutdown_reserve
        if hook.timeout > limit:
            warnings.append(f"prestop.timeout {fmt(hook.timeout)} is longer than grace_period - "
                            f"shutdown_reserve ({fmt(limit)}): the kubelet sends SIGTERM at "
                            f"{fmt(settings.grace_period)} regardless")
    return warnings
