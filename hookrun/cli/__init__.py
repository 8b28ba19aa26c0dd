"""The edge: arguments in, text and an exit code out. Only this package prints.

`main` parses the command line, dispatches to one command, and turns every exception into
text and an exit code in one place (`error_handler`), as pre-commit's error handler does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType

from hookrun.cli.options import global_options, load_config, option, verbosity
from hookrun.cli.output import install
from hookrun.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    ConfigError,
    HookrunError,
    Interrupted,
    LaunchError,
    exit_for_signal,
)
from hookrun.system.clock import MonotonicClock
from hookrun.system.procfs import process_age

COMMANDS = {  # name -> help, in the order `hookrun --help` lists them
    "poststart": 'run the hook "poststart"',
    "prestop": 'run the hook "prestop"',
    "run": "run any hook of the config by name",
    "plan": "dry-run: print what would run",
    "validate": "check the config (exit 0 or 2)",
    "emulate": "run CMD with its hooks like the kubelet",
    "manifest": "print the pod-spec fragment",
    "markers": "list or clear idempotency markers",
    "install": "copy a runnable hookrun into DIR (for an initContainer and an emptyDir)",
    "version": "print the version",
}
_VALUE_OPTIONS = ("--config", "--grace-period", "--log-format", "--log-target")


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. With `only`, the other commands are left out: each costs a parser
    with its options, and a hook's start-up pays for the one it runs (`command_named`)."""
    top = argparse.ArgumentParser(
        prog="hookrun", description="Run Kubernetes lifecycle hooks with timeouts, retries, "
        "a budget taken from the grace period, and logs you can see.", formatter_class=Formatter)
    global_options(top, None)
    common = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    global_options(common, argparse.SUPPRESS)
    # prog given: argparse would otherwise format the usage to find it (the terminal asked too)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", prog="hookrun")
    sub.required = True
    for name, what in COMMANDS.items():
        if only in (None, name):
            _command(sub, name, what, common)
    return top


def _command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str,
             common: argparse.ArgumentParser) -> None:
    if name in ("emulate", "manifest"):
        # they parse their own options (global ones included) from `rest`: no argument can
        # start with NUL, so this parser takes every word after the command as is
        p = sub.add_parser(name, prefix_chars="\0", add_help=False, help=what)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        return
    p = sub.add_parser(name, parents=[common], help=what, formatter_class=Formatter)
    if name in ("run", "plan"):
        p.add_argument("hook")
    if name in ("poststart", "prestop", "run"):
        p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    if name in ("poststart", "prestop", "run", "plan"):
        p.add_argument("--format", choices=("text", "json"), default="text", help="plan output format")
    if name == "markers":
        p.add_argument("--clear", action="store_true")
    if name == "install":
        p.add_argument("directory", metavar="DIR")
    if name == "version":
        p.add_argument("--check", action="store_true",
                       help="also prove that every bundled module and dependency works")


def command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` names, found as argparse finds it; None when that takes more than a
    glance (no command, help asked for, an option it does not know before it)."""
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help", "--"):
            return None
        if word.startswith("--"):  # a global option; argparse takes any unambiguous prefix
            if "=" not in word and any(option.startswith(word) for option in _VALUE_OPTIONS):
                next(words, None)  # its value, whatever it looks like
            continue
        if word.startswith("-") and word != "-":  # -v, -qq
            continue
        return word if word in COMMANDS else None
    return None


class Formatter(argparse.HelpFormatter):
    """argparse's, with the terminal width looked up only when help is printed: the stock one
    imports shutil and asks the terminal for every option it checks."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=1 << 16)

    def format_help(self) -> str:
        import shutil

        self._width = shutil.get_terminal_size().columns - 2
        self._max_help_position = min(self._max_help_position, max(self._width - 20, 2 * 2))
        return super().format_help()


# --- the commands ----------------------------------------------------------------------------

def cmd_hook(args: argparse.Namespace, hook: str, env: Mapping[str, str], started: float) -> int:
    """Run a hook (or print its plan): the engine service does the work."""
    if getattr(args, "dry_run", False) or args.command == "plan":
        from hookrun.cli.commands import cmd_plan

        return cmd_plan(args, hook, env)
    from hookrun.engine.service import run_hook

    config = load_config(args, env)
    grace_given = option(args, "grace_period", "HOOKRUN_GRACE_PERIOD", env) is not None
    return run_hook(config, hook, env, started, verbosity(args),
                    grace_given=grace_given, mask=args.masker).exit_code


def dispatch(args: argparse.Namespace, env: Mapping[str, str], started: float) -> int:
    command = args.command
    if command in ("poststart", "prestop"):
        return cmd_hook(args, command, env, started)
    if command in ("run", "plan"):
        return cmd_hook(args, args.hook, env, started)
    # the others are imported only when asked for: a hook's start-up is taken out of the grace
    # period, and it pays only for what it uses
    if command == "emulate":
        from hookrun.cli import emulate

        return emulate.main(args, env)
    if command == "manifest":
        from hookrun.cli import manifest

        return manifest.main(args, env)
    from hookrun.cli import commands

    if command == "validate":
        return commands.cmd_validate(args, env)
    if command == "version":
        return commands.cmd_version(args.check)
    if command == "install":
        return commands.cmd_install(args.directory, env)
    return commands.cmd_markers(args, env)


# --- the edge ---------------------------------------------------------------------------------

@contextlib.contextmanager
def error_handler(args: argparse.Namespace, result: list[int]) -> Iterator[None]:
    """Every exception becomes a message on stderr and an exit code (errors.py), here only."""
    try:
        yield
    except ConfigError as err:
        from hookrun.cli.commands import render_problems

        print(render_problems(err), file=sys.stderr)
        result.append(EXIT_USAGE)
    except LaunchError as err:  # emulate's CMD could not be started: its shell code
        print(f"hookrun emulate: {err}", file=sys.stderr)
        result.append(err.code)
    except HookrunError as err:
        print(f"hookrun: {err}", file=sys.stderr)
        result.append(err.exit_code)
    except Interrupted as signal_:
        print(f"hookrun: interrupted by signal {signal_.signum}", file=sys.stderr)
        result.append(exit_for_signal(signal_.signum))
    except Exception as err:  # a bug: say so briefly; the traceback only with -v
        if getattr(args, "verbose", 0):
            import traceback

            traceback.print_exc()
        print(f"hookrun: internal error: {type(err).__name__}: {err} (this is a bug in hookrun; "
              "please report it)", file=sys.stderr)
        result.append(EXIT_INTERNAL)


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
        words = sys.argv[1:] if argv is None else argv
        args = parser(command_named(words)).parse_args(words)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _install_signal_handlers()
    args.masker = install(env)  # nothing printed from here on can show a secret value
    result: list[int] = []
    with error_handler(args, result):
        if getattr(sys, "frozen", False):  # not imported from source: a hook's start-up is short
            from hookrun.packaging import frozen

            if frozen.bind_to_launcher():  # a one-file build: stop when its launcher is killed
                frozen.sweep_leftovers()  # and remove what launchers killed early left behind
        result.append(dispatch(args, env, started))
    return result[-1]
