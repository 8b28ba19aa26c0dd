"""shell: a script run by a shell from the image (`/bin/sh -c` by default)."""

from __future__ import annotations

from hookrun.config.schema import Where, as_nonempty_str
from hookrun.steps import Kind
from hookrun.steps.exec import Command, attempt, describe, options


def parse_shell(value: object, where: Where) -> Command | None:
    if isinstance(value, str):
        if not value:
            where.problem("the script is empty")
            return None
        return Command(("/bin/sh", "-c", value), script=value)
    if not isinstance(value, dict):
        where.problem('expected a script string or a table with "script"')
        return None
    f = where.fields(value, ("script", "shell", "env", "cwd", "ok_exit_codes"))
    env, cwd, codes = options(f)
    script = f.need("script", as_nonempty_str, "", "the shell script to run")
    shell = f.take("shell", as_nonempty_str, "/bin/sh")
    return Command((shell, "-c", script), env, cwd, codes, script) if f.ok else None


SHELL: Kind[Command] = Kind("shell", parse_shell, describe, attempt)
