"""The edge: arguments in, text and an exit code out. Only this package prints.

`main` parses the command line, dispatches to one command, and turns every exception into
text and an exit code in one place (`error_handler`), as pre-commit's error handler does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType

from hookrun.cli.arguments import Arguments, quick_parse
from hookrun.cli.options import load_config, option, verbosity
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

# --- the commands ----------------------------------------------------------------------------

def cmd_hook(args: Arguments, hook: str, env: Mapping[str, str], started: float) -> int:
    """Run a hook (or print its plan): the engine service does the work."""
    if getattr(args, "dry_run", False) or args.command == "plan":
        from hookrun.cli.commands import cmd_plan

        return cmd_plan(args, hook, env)
    from hookrun.engine.service import run_hook

    config = load_config(args, env)
    grace_given = option(args, "grace_period", "HOOKRUN_GRACE_PERIOD", env) is not None
    return run_hook(config, hook, env, started, verbosity(args),
                    grace_given=grace_given, mask=args.masker).exit_code


def dispatch(args: Arguments, env: Mapping[str, str], started: float) -> int:
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
def error_handler(args: Arguments, result: list[int]) -> Iterator[None]:
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
        words = sys.argv[1:] if argv is None else list(argv)
        args = quick_parse(words)
        if args is None:  # anything but a hook's plain command line: argparse, help and errors
            from hookrun.cli.parser import parse

            args = parse(words)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _install_signal_handlers()
    args.masker = install(env)  # nothing printed from here on can show a secret value
    result: list[int] = []
    with error_handler(args, result):
        if getattr(sys, "frozen", False):  # not imported from source: a hook's start-up is short
            from hookrun.packaging import frozen

            if frozen.bind_to_launcher():  # one-file, static: stop when the launcher is killed
                frozen.sweep_leftovers()  # and remove what launchers killed early left behind
        result.append(dispatch(args, env, started))
    return result[-1]
