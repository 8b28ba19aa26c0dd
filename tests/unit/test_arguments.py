"""The quick reading of a hook's command line gives what argparse gives, or leaves it to
argparse: checked over every command line of up to four words from a pool of the words that
matter (options, values that look like options, abbreviations, commands)."""

from __future__ import annotations

import itertools
import random

import pytest

from hookrun.cli.arguments import command_named, quick_parse
from hookrun.cli.parser import parse

POOL = ["prestop", "poststart", "validate", "-v", "-vq", "--quiet", "--config", "--config=a.toml",
        "x.toml", "--conf", "--grace-period", "5s", "--log-format", "json", "yaml",
        "--log-format=text", "--log-target=stderr", "--dry-run", "--format", "--format=json", "-h",
        "--", "-", "", "-x"]


def argparse_result(argv: list[str]) -> dict[str, object] | None:
    try:
        return vars(parse(argv))
    except SystemExit:
        return None


def command_lines() -> list[list[str]]:
    lines = [list(words) for n in range(4) for words in itertools.product(POOL, repeat=n)]
    rng = random.Random(14)
    lines = [line for line in lines if len(line) < 3] + rng.sample([line for line in lines if len(line) == 3], 2500)
    return lines + [[*rng.sample(POOL, 5), rng.choice(["prestop", "poststart"])] for _ in range(300)]


@pytest.mark.parametrize("chunk", range(4))
def test_quick_parse_agrees_with_argparse(chunk: int, capsys: pytest.CaptureFixture[str]) -> None:
    lines = command_lines()[chunk::4]
    quick = 0
    for argv in lines:
        ours = quick_parse(argv)
        if ours is None:
            continue
        quick += 1
        assert vars(ours) == argparse_result(argv), argv
    assert quick > 10
    capsys.readouterr()  # argparse's usage errors


GLOBAL = [["-v"], ["-q"], ["-vq"], ["--verbose"], ["--config", "x.toml"], ["--config=x.toml"],
          ["--grace-period", "5s"], ["--log-format", "json"], ["--log-format=text"],
          ["--log-target=stderr"], ["--log-target", "/dev/stderr"]]
HOOK = [["--dry-run"], ["--format", "json"], ["--format=text"]]


def test_random_hook_command_lines_are_read_quickly_and_alike() -> None:
    rng = random.Random(14)
    for _ in range(400):
        before = [word for _ in range(rng.randrange(4)) for word in rng.choice(GLOBAL)]
        after = [word for _ in range(rng.randrange(4)) for word in rng.choice(GLOBAL + HOOK)]
        argv = [*before, rng.choice(["prestop", "poststart"]), *after]
        ours = quick_parse(argv)
        assert ours is not None, argv
        assert vars(ours) == argparse_result(argv), argv


@pytest.mark.parametrize("argv", [
    ["prestop"], ["poststart"], ["-v", "prestop"], ["prestop", "-qq"],
    ["--config", "/etc/x.toml", "prestop", "--dry-run", "--format", "json"],
    ["--log-target=stderr", "prestop", "--config=", "--grace-period", "30s", "-vq"],
    ["-v", "prestop", "-v"],  # argparse counts after the command from zero
])
def test_hook_command_lines_are_read_quickly(argv: list[str]) -> None:
    ours = quick_parse(argv)
    assert ours is not None and vars(ours) == argparse_result(argv)


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["prestop", "-h"], ["validate"], ["prestop", "extra"], ["--conf", "x", "prestop"],
    ["--config", "-x", "prestop"], ["prestop", "--format", "yaml"], ["--format", "json", "prestop"],
    ["prestop", "--dry-run=yes"], ["prestop", "--"], ["prestop", "poststart"],
])
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert quick_parse(argv) is None


@pytest.mark.parametrize(("argv", "command"), [
    (["prestop"], "prestop"), (["--config", "validate", "prestop"], "prestop"),
    (["--conf", "validate", "prestop"], "prestop"), (["--config=validate", "plan", "x"], "plan"),
    (["-vv", "version"], "version"), (["--help", "prestop"], None), (["bogus"], None), ([], None),
])
def test_command_named(argv: list[str], command: str | None) -> None:
    assert command_named(argv) == command
