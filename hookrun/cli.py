"""The edge: arguments in, text and an exit code out. The only module that prints."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import FrameType

from hookrun import __version__
from hookrun.config import DEFAULT_PATH, Config, load
from hookrun.deadline import MonotonicClock, process_age
from hookrun.executor import Interrupted, Runtime, execute
from hookrun.frozen import bind_to_launcher
from hookrun.guard import take_lock
from hookrun.log import Logger, open_target, write_termination_message
from hookrun.markers import StateDir, Store, instance_keys, open_state_dir
from hookrun.plan import Plan, build_plan
from hookrun.procs import child_base_env
from hookrun.render import (
    render_markers,
    render_plan,
    render_problems,
    summary_message,
    termination_message,
)
from hookrun.report import Event, Report
from hookrun.schema import ConfigError, Problem
from hookrun.values import ValueProblem, parse_duration

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_BUDGET = 0, 1, 2, 3, 124


class UsageError(Exception):
    pass


def exit_code(report: Report) -> int:
    if report.interrupted is not None:
        return 128 + report.interrupted
    if report.budget_ran_out:
        return EXIT_BUDGET
    if report.failed:
        return EXIT_FAILED
    return EXIT_OK


# --- arguments ------------------------------------------------------------------------------

def _global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--config", default=default, metavar="PATH",
                        help=f"config file (env HOOKRUN_CONFIG, default {DEFAULT_PATH})")
    parser.add_argument("--grace-period", default=default, metavar="DUR",
                        help="override settings.grace_period (env HOOKRUN_GRACE_PERIOD)")
    parser.add_argument("--log-format", default=default, choices=("text", "json"),
                        help="env HOOKRUN_LOG_FORMAT")
    parser.add_argument("--log-target", default=default, metavar="T",
                        help="auto | stderr | pid1 | a file path (env HOOKRUN_LOG_TARGET)")
    parser.add_argument("-v", "--verbose", action="count", default=default, help="more detail")
    parser.add_argument("-q", "--quiet", action="count", default=default, help="less detail")


def config_options(parser: argparse.ArgumentParser) -> None:
    """--config and --grace-period, for commands that parse their own options (emulate, manifest)."""
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH",
                        help=f"config file (env HOOKRUN_CONFIG, default {DEFAULT_PATH})")
    parser.add_argument("--grace-period", default=argparse.SUPPRESS, metavar="DUR",
                        help="the pod's grace period, instead of settings.grace_period "
                        "(env HOOKRUN_GRACE_PERIOD)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="hookrun", description="Run Kubernetes lifecycle hooks with timeouts, retries, "
        "a budget taken from the grace period, and logs you can see.")
    _global_options(top, None)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def hook_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="plan output format")

    for name in ("poststart", "prestop"):
        hook_options(sub.add_parser(name, parents=[common], help=f'run the hook "{name}"'))
    p = sub.add_parser("run", parents=[common], help="run any hook of the config by name")
    p.add_argument("hook")
    hook_options(p)
    p = sub.add_parser("plan", parents=[common], help="dry-run: print what would run")
    p.add_argument("hook")
    p.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_parser("validate", parents=[common], help="check the config (exit 0 or 2)")
    # emulate and manifest parse their own options (global ones included) from `rest`: no
    # argument can start with NUL, so this parser takes every word after the command as is
    for name, what in (("emulate", "run CMD with its hooks like the kubelet"),
                       ("manifest", "print the pod-spec fragment")):
        p = sub.add_parser(name, prefix_chars="\0", add_help=False, help=what)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("markers", parents=[common], help="list or clear idempotency markers")
    p.add_argument("--clear", action="store_true")
    p = sub.add_parser("version", parents=[common], help="print the version")
    p.add_argument("--check", action="store_true",
                   help="also prove that every bundled module and dependency works")
    return top


def option(args: argparse.Namespace, name: str, env_name: str, env: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    return env.get(env_name) or None


# --- commands --------------------------------------------------------------------------------

def load_config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    path = option(args, "config", "HOOKRUN_CONFIG", env) or DEFAULT_PATH
    config = load(path, env)
    grace = option(args, "grace_period", "HOOKRUN_GRACE_PERIOD", env)
    settings = config.settings
    if grace is not None:
        try:
            seconds = parse_duration(grace)
        except ValueProblem as err:
            raise ConfigError(path, [Problem("", "--grace-period / HOOKRUN_GRACE_PERIOD",
                                             str(err))]) from None
        settings = replace(settings, grace_period=seconds)
    log_format = option(args, "log_format", "HOOKRUN_LOG_FORMAT", env)
    if log_format is not None and log_format not in ("text", "json"):
        raise UsageError(f"HOOKRUN_LOG_FORMAT must be text or json, got {log_format!r}")
    settings = replace(
        settings,
        log_format=log_format or settings.log_format,
        log_target=option(args, "log_target", "HOOKRUN_LOG_TARGET", env) or settings.log_target,
    )
    return replace(config, settings=settings)


def hook_plan(config: Config, hook: str, done: Mapping[str, str] | None = None) -> Plan:
    if hook not in config.hooks:
        defined = ", ".join(sorted(config.hooks)) or "none"
        raise ConfigError(config.path, [Problem("", None, f'no hook "{hook}" in this config '
                                                f"(hooks defined: {defined})")])
    try:
        return build_plan(config, hook, done)
    except ConfigError as err:
        raise ConfigError(config.path, err.problems) from None


def cmd_hook(args: argparse.Namespace, hook: str, env: Mapping[str, str], started: float) -> int:
    config = load_config(args, env)
    plan = hook_plan(config, hook)
    dry = getattr(args, "dry_run", False) or args.command == "plan"
    settings = config.settings
    store = Store(open_state_dir(settings.state_dir, env, create=not dry), instance_keys(env))
    if dry:
        print_plan(hook_plan(config, hook, store.done(plan)), args.format)
        return EXIT_OK
    stream, _ = open_target(settings.log_target)
    verbosity = (getattr(args, "verbose", 0) or 0) - (getattr(args, "quiet", 0) or 0)
    logger = Logger(stream, settings.log_format, verbosity, echo=sys.stderr)
    clock = MonotonicClock()

    def note(level: str, event: str, message: str) -> None:
        now = clock.now()
        logger(Event(time.time(), level, hook, None, event, None, int((now - started) * 1000),
                     int(max(0.0, started + plan.budget_s - now) * 1000), message))

    def conclude(report: Report, ahead: bool = False) -> int:
        """The summary event (and prestop's termination message); the exit code."""
        code = exit_code(report)
        summary = summary_message(report, code)
        if hook == "prestop" and settings.termination_message:
            problem = write_termination_message(settings.termination_message_path,
                                                termination_message(report, code))
            summary += f"; {problem}" if problem else ""
        if ahead:
            summary += " (written ahead: PID 1 was signalled, and hookrun ends when it exits)"
        note("error" if code else "info", "summary", summary)
        return code

    protected = frozenset({os.getpid(), os.getppid()})
    lock = take_lock(store, hook, started + plan.budget_s, clock, protected,
                     lambda level, message: note(level, "start", message))
    try:
        plan = hook_plan(config, hook, store.done(plan))  # markers again, now under the lock
        runtime = Runtime(clock=clock, emit=logger, env=child_base_env(env), started_at=started,
                          protected_pids=protected, check_step=store.refusal,
                          on_step_ok=lambda step: store.record(hook, step),
                          on_final=lambda report: conclude(report, ahead=True))
        report = execute(plan, runtime)
    finally:
        if lock is not None:
            os.close(lock)
    return conclude(report)


def print_plan(plan: Plan, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print(render_plan(plan))


def cmd_validate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_config(args, env)
    problems: list[Problem] = []
    notes = []
    for name in config.hooks:
        try:
            plan = build_plan(config, name)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        notes.append(f"  {name}: {len(plan.steps)} step(s), worst case "
                     f"{plan.worst_case_s:.1f}s of {plan.budget_s:.1f}s budget"
                     + ("" if plan.fits else " (does not fit)"))
        notes.extend(f"    warning: {w}" for w in plan.warnings)
    if problems:
        raise ConfigError(config.path, problems)
    print(f"{config.path}: ok")
    print("\n".join(notes))
    return EXIT_OK


def cmd_version(check: bool) -> int:
    try:
        from hookrun import _build  # type: ignore[attr-defined]  # written by build/
        variant = f"{_build.VARIANT}, {_build.COMMIT}" if _build.COMMIT else str(_build.VARIANT)
    except ImportError:
        variant = "python"
    print(f"hookrun {__version__} ({variant}, Python {sys.version.split()[0]})")
    if not check:
        return EXIT_OK
    from hookrun import selfcheck

    results = selfcheck.run()
    for result in results:
        print(f"  {'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    return EXIT_OK if all(result.ok for result in results) else EXIT_INTERNAL


def cmd_markers(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_config(args, env)
    state = open_state_dir(config.settings.state_dir, env, create=False)
    if not isinstance(state, StateDir):
        print(f"hookrun: no markers: {state.message()}")
        return EXIT_OK
    store = Store(state, instance_keys(env))
    removed = store.clear() if args.clear else None
    print(render_markers(state.path, store.markers(), removed))
    return EXIT_OK


# --- the edge ---------------------------------------------------------------------------------

def _install_signal_handlers() -> None:
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:  # the first one is being handled: cleanup must not be interrupted
            return
        fired.append(signum)
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None) -> int:
    started = MonotonicClock().now() - process_age()
    env = dict(os.environ)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _install_signal_handlers()
    try:
        bind_to_launcher()  # a one-file build: stop (SIGTERM) when its bootloader is killed
        return dispatch(args, env, started)
    except ConfigError as err:
        print(render_problems(err), file=sys.stderr)
        return EXIT_USAGE
    except UsageError as err:
        print(f"hookrun: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as signal_:
        print(f"hookrun: interrupted by signal {signal_.signum}", file=sys.stderr)
        return 128 + signal_.signum
    except Exception as err:  # a bug: say so briefly; the traceback only with -v
        if getattr(args, "verbose", 0):
            import traceback

            traceback.print_exc()
        print(f"hookrun: internal error: {type(err).__name__}: {err} (this is a bug in hookrun; "
              "please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def dispatch(args: argparse.Namespace, env: Mapping[str, str], started: float) -> int:
    command = args.command
    if command in ("poststart", "prestop"):
        return cmd_hook(args, command, env, started)
    if command in ("run", "plan"):
        return cmd_hook(args, args.hook, env, started)
    if command == "validate":
        return cmd_validate(args, env)
    if command == "version":
        return cmd_version(args.check)
    if command == "markers":
        return cmd_markers(args, env)
    # imported only when asked for: a hook's start-up is taken out of the grace period
    if command == "emulate":
        from hookrun import emulate

        return emulate.main(args, env)
    from hookrun import manifest

    return manifest.main(args, env)
