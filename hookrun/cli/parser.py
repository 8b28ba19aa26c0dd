"""The command line, parsed by argparse: every command, help and usage errors."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hookrun.cli.arguments import COMMANDS, FORMATS, Arguments, command_named
from hookrun.cli.options import global_options


def parse(argv: Sequence[str]) -> Arguments:
    """argv read as the whole command line; SystemExit for help and usage errors (printed)."""
    return Arguments(**vars(parser(command_named(argv)).parse_args(argv)))


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. With `only`, the other commands are left out: each costs a parser
    with its options, and a command pays only for its own (`command_named`; a hook's plain
    command line does not get here: cli/arguments.quick_parse)."""
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
        p.add_argument("--format", choices=FORMATS, default="text", help="plan output format")
    if name == "markers":
        p.add_argument("--clear", action="store_true")
    if name == "install":
        p.add_argument("directory", metavar="DIR")
    if name == "version":
        p.add_argument("--check", action="store_true",
                       help="also prove that every bundled module and dependency works")


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


