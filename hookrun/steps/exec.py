"""exec: run a command (argv, no shell); what shell steps run too (steps/shell.py)."""

from __future__ import annotations

import os

from hookrun.config.schema import Fields, Where, as_argv, as_int_list, as_str, as_str_map
from hookrun.config.values import format_duration
from hookrun.errors import LaunchError
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, ok, retry, timeout
from hookrun.system.commands import run_command


@record
class Command:
    """An exec or shell action: the argv and how to run it."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    ok_exit_codes: tuple[int, ...] = (0,)
    script: str | None = None  # shell only: the script, for describe()


DEFAULT_OK: tuple[int, ...] = (0,)
NO_ARGV: tuple[str, ...] = ()
Options = tuple[tuple[tuple[str, str], ...], str | None, tuple[int, ...]]


def options(f: Fields) -> Options:
    no_env: tuple[tuple[str, str], ...] = ()
    env = f.take("env", as_str_map, no_env)
    for name, _ in env:
        if not name or "=" in name:
            f.problem("env", f"{name!r} cannot be an environment variable's name (empty, or it has '=')")
    cwd = f.take("cwd", as_str, None)
    codes = f.take("ok_exit_codes", as_int_list, DEFAULT_OK)
    if not codes:
        f.problem("ok_exit_codes", "must list at least one exit code, e.g. [0]")
    return env, cwd, codes or DEFAULT_OK


def parse_exec(value: object, where: Where) -> Command | None:
    if isinstance(value, list):
        try:
            return Command(as_argv(value))
        except ValueError as err:
            where.problem(str(err))
            return None
    if not isinstance(value, dict):
        where.problem('expected a list like ["nginx", "-s", "quit"] or a table with "command"')
        return None
    f = where.fields(value, ("command", "env", "cwd", "ok_exit_codes"))
    env, cwd, codes = options(f)
    argv = f.need("command", as_argv, NO_ARGV, 'a list like ["nginx", "-s", "quit"]')
    return Command(argv, env, cwd, codes) if f.ok else None


def describe(cmd: Command) -> str:
    if cmd.script is not None:
        text = cmd.script if len(cmd.script) <= 60 else cmd.script[:57] + "..."
        return f"{cmd.argv[0]} -c {text!r}"
    return "run " + " ".join(cmd.argv)


def attempt(cmd: Command, ctx: AttemptContext) -> Outcome:
    env = {**ctx.env, **dict(cmd.env)}
    if cmd.script is not None and not os.path.exists(cmd.argv[0]):
        return fail(f"shell {cmd.argv[0]} is not in this image; use exec = [...] instead of shell")
    try:
        done = run_command(cmd.argv, env, cmd.cwd, ctx.deadline, ctx.clock, ctx.output)
    except LaunchError as err:
        return fail(f"{err} (exit {err.code})")
    name = os.path.basename(cmd.argv[0])
    if done.timed_out:
        return timeout(f"{name} still running after {format_duration(done.seconds)}: killed")
    if done.code in cmd.ok_exit_codes:
        return ok(f"{name} exited {done.code}")
    return retry(f"{name} exited {done.code}" + _code_hint(done.code))


def _code_hint(code: int) -> str:
    if code > 128:
        return f" (killed by signal {code - 128})"
    return ""


EXEC: Kind[Command] = Kind("exec", parse_exec, describe, attempt)
