"""The command line without argparse, for the one command line that must start fast.

A hook runs as `hookrun prestop` (or poststart), perhaps with global options, at every start
of a container and every stop, and its start-up is taken out of the grace period. argparse
(with gettext and locale) and building its parsers cost a no-op hook about a tenth of its CPU
time. `quick_parse` reads exactly those command lines into what argparse would give, and
gives up (None) on anything else: help, errors, abbreviations, other commands, all of which
go to argparse (cli/parser.py). tests/unit/test_arguments.py holds the two to the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace as Arguments

__all__ = ["COMMANDS", "FORMATS", "Arguments", "command_named", "quick_parse"]

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


_FLAGS = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}
FORMATS = ("text", "json")  # of --log-format and --format, here and in argparse's parsers
_CHOICES = {"log_format": FORMATS, "format": FORMATS}


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


def quick_parse(argv: Sequence[str]) -> Arguments | None:
    """`[GLOBAL...] poststart|prestop [GLOBAL|--dry-run|--format F ...]` as argparse reads
    it, or None for any other command line."""
    top: dict[str, object] = {"config": None, "grace_period": None, "log_format": None,
                              "log_target": None, "verbose": None, "quiet": None}
    sub: dict[str, object] = {}  # argparse parses after the command into its own namespace
    words = list(argv)
    while words:
        word = words.pop(0)
        into = sub if "command" in top else top
        if word in ("poststart", "prestop") and "command" not in top:
            top["command"] = word
            sub.update(dry_run=False, format="text")
            continue
        if word in _FLAGS or (len(word) > 2 and word[0] == "-" and set(word[1:]) <= {"v", "q"}):
            for flag in [word] if word in _FLAGS else [f"-{c}" for c in word[1:]]:
                dest = _FLAGS[flag]
                into[dest] = int(into.get(dest) or 0) + 1  # type: ignore[call-overload]
            continue
        if word == "--dry-run" and "command" in top:
            sub["dry_run"] = True
            continue
        name, equals, value = word.partition("=")
        if name not in _VALUE_OPTIONS and not (name == "--format" and "command" in top):
            return None
        if not equals:
            if not words or words[0].startswith("-"):
                return None  # argparse: "expected one argument"
            value = words.pop(0)
        dest = name[2:].replace("-", "_")
        if value not in _CHOICES.get(dest, (value,)):
            return None
        into[dest] = value
    if "command" not in top:
        return None
    return Arguments(**{**top, **sub})
