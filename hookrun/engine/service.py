"""Running one hook for real: state, lock, plan (once), execute, and the lasting account.

`run_hook` is what `hookrun poststart|prestop|run` does below the command line. It owns the
run's lasting effects through one Journal (the executor's Checkpoint): `once` markers after
each success, and the summary (with prestop's termination message) written exactly once,
either at the end or ahead of a step that signals PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal as signal_module
import time
from collections.abc import Callable, Mapping

from hookrun.config.load import Config
from hookrun.config.values import format_duration as fmt
from hookrun.engine.executor import Runtime, execute
from hookrun.engine.log import Logger, open_target, write_termination_message
from hookrun.engine.plan import Plan, PlannedStep, budget_for, plan_for
from hookrun.engine.render import summary_message, termination_message
from hookrun.engine.report import Event, EventName, Level, Report, StepResult
from hookrun.errors import Interrupted
from hookrun.record import record
from hookrun.state.guard import take_lock
from hookrun.state.markers import Store, instance_keys
from hookrun.state.statedir import open_state_dir
from hookrun.system import child_base_env
from hookrun.system.clock import Clock, MonotonicClock
from hookrun.system.control import wait_for_exit

FLUSH_S = 0.2  # at the end, how long the log targets may take to accept what is pending


@record
class Outcome:
    """What a run of a hook came to."""

    report: Report
    exit_code: int


def dry_run(config: Config, hook: str, env: Mapping[str, str]) -> Plan:
    """The plan a real run would execute now, `once` markers included; writes nothing."""
    budget_for(config, hook)  # a located error for an unknown hook before the state is read
    store = Store(open_state_dir(config.settings.state_dir, env, create=False), instance_keys(env))
    return plan_for(config, hook, store.done(hook, config.hooks[hook].steps))


class Journal:
    """The Checkpoint of a real run: markers, the log's summary, the termination message."""

    def __init__(self, hook: str, config: Config, store: Store, log: Logger, clock: Clock,
                 started: float, budget: float, mask: Callable[[str], str] = str) -> None:
        self.hook, self.settings, self.store, self.log = hook, config.settings, store, log
        self.mask = mask
        self.clock, self.started, self.budget = clock, started, budget
        self.concluded = False

    def note(self, level: Level, event: EventName, message: str) -> None:
        now = self.clock.now()
        self.log(Event(time.time(), level, self.hook, None, event, None,
                       int((now - self.started) * 1000),
                       int(max(0.0, self.started + self.budget - now) * 1000), message))

    # --- the executor's Checkpoint ---------------------------------------------------------
    def refusal(self, step: PlannedStep) -> str | None:
        return self.store.refusal(step.step)

    def succeeded(self, step: PlannedStep) -> str | None:
        return self.store.record(self.hook, step.step)

    def final(self, report: Report) -> None:
        self.conclude(report, ahead=True)
        self.log.flush(FLUSH_S)  # before the signal: once PID 1 exits, nothing more can be written

    # --- the end of the run ----------------------------------------------------------------
    def conclude(self, report: Report, ahead: bool = False) -> None:
        """The summary event (and prestop's termination message)."""
        code = report.exit_code
        summary = summary_message(report, code)
        if self.hook == "prestop" and self.settings.termination_message:
            problem = write_termination_message(self.settings.termination_message_path,
                                                self.mask(termination_message(report, code)))
            summary += f"; {problem}" if problem else ""
        if ahead:
            summary += " (written ahead: PID 1 was signalled, and hookrun ends when it exits)"
        if self.log.dropped:
            summary += (f"; {self.log.dropped} log line(s) dropped: the log target did not keep "
                        "up (a pipe nobody reads?)")
        self.note("error" if code else "info", "summary", summary)
        self.concluded = True


def assumed_grace(config: Config) -> str:
    settings = config.settings
    return (f"HOOKRUN_GRACE_PERIOD is not set: assuming the pod's grace period is "
            f"settings.grace_period = {fmt(settings.grace_period)} (budget "
            f"{fmt(settings.grace_period - settings.shutdown_reserve)}). The grace period cannot "
            "be read inside a pod: set HOOKRUN_GRACE_PERIOD to terminationGracePeriodSeconds "
            "(`hookrun manifest` does), or the kubelet may stop the container before this hook ends")


def unrun(config: Config, hook: str, started: float, clock: Clock, why: str,
          interrupted: int | None) -> Report:
    """The account of a run that never started its steps: each one cancelled, with why."""
    steps = tuple(StepResult(step.name, "cancelled", 0, 0.0, why,
                             step.on_failure or config.hooks[hook].on_failure)
                  for step in config.hooks[hook].steps)
    return Report(hook, budget_for(config, hook), clock.now() - started, steps, None, interrupted)


def run_hook(config: Config, hook: str, env: Mapping[str, str], started: float,
             verbosity: int = 0, clock: Clock | None = None,
             grace_given: bool = True, mask: Callable[[str], str] = str) -> Outcome:
    """Run the hook: `started` is the clock time its budget counts from (process start).
    `grace_given`: the grace period came from HOOKRUN_GRACE_PERIOD or --grace-period."""
    clock = clock or MonotonicClock()
    budget = budget_for(config, hook)  # a located config error before anything is opened
    settings = config.settings
    store = Store(open_state_dir(settings.state_dir, env, create=True), instance_keys(env))
    target = open_target(settings.log_target)
    log = Logger(target, settings.log_format, verbosity, mask=mask)
    journal = Journal(hook, config, store, log, clock, started, budget, mask)
    if target.problem:
        journal.note("warning", "start", target.problem)
    try:
        return _run(config, hook, env, started, clock, budget, store, journal, grace_given)
    finally:  # what the log targets have not taken yet: a moment more, never past the budget
        log.close(max(0.0, min(FLUSH_S, started + budget - clock.now())))


def _run(config: Config, hook: str, env: Mapping[str, str], started: float, clock: Clock,
         budget: float, store: Store, journal: Journal, grace_given: bool) -> Outcome:
    if hook == "prestop" and not grace_given and config.hooks[hook].timeout is None:
        journal.note("warning", "start", assumed_grace(config))
    protected = frozenset({os.getpid(), os.getppid()})
    reserved = sum(step.reserve for step in config.hooks[hook].steps)
    try:
        lock = take_lock(store, hook, started + budget, clock, protected,
                         lambda level, message: journal.note(level, "start", message), reserved)
    except Interrupted as signal:  # SIGTERM while waiting for the lock: still one summary
        report = unrun(config, hook, started, clock, "hookrun was interrupted while waiting for "
                       f"the {hook} lock", interrupted=signal.signum)
        journal.conclude(report)
        return Outcome(report, report.exit_code)
    if lock.cancelled is not None:
        journal.note("warning", "cancelled", lock.cancelled)
        report = unrun(config, hook, started, clock, lock.cancelled, interrupted=signal_module.SIGTERM)
        journal.conclude(report)
        return Outcome(report, report.exit_code)
    try:  # markers are read under the lock: a delivery that waited sees what the first did
        plan = plan_for(config, hook, store.done(hook, config.hooks[hook].steps))
        runtime = Runtime(clock=clock, emit=journal.log, env=child_base_env(env), started_at=started,
                          protected_pids=protected, checkpoint=journal)
        report = execute(plan, runtime)
    finally:
        if lock.fd is not None:
            os.close(lock.fd)
    if journal.concluded:  # written ahead of stopping PID 1: the container ends when it exits
        # the account is written: nothing, not even an interruption, may follow it
        with contextlib.suppress(Interrupted):
            wait_for_exit(1, started + budget - clock.now())
    else:
        journal.conclude(report)
    return Outcome(report, report.exit_code)
