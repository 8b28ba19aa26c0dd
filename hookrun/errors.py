"""Every exception type of hookrun, and the exit codes they map to (SPEC §6).

Expected failures of a step are data (a StepResult), not exceptions. What is raised is either
a problem with the input (config, usage), a command that could not be started, an
interruption of hookrun itself, or a bug. Only the CLI's error handler turns these into text
and an exit code, through `exit_code_for`.
"""

from __future__ import annotations

from hookrun.record import record

EXIT_OK = 0
EXIT_FAILED = 1  # a step failed; validate: a hook cannot fit its budget
EXIT_USAGE = 2  # usage or config error: nothing was run
EXIT_INTERNAL = 3  # a bug
EXIT_BUDGET = 124  # the hook's budget ran out


def exit_for_signal(signum: int) -> int:
    """Shell convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


@record
class Problem:
    """One thing wrong with the config, and where."""

    where: str  # e.g. 'prestop.steps[2] (name = "drain")'
    key: str | None
    message: str

    def __str__(self) -> str:
        key = f', key "{self.key}"' if self.key else ""
        at = f"at {self.where}{key}: " if self.where else (f'key "{self.key}": ' if self.key else "")
        return at + self.message


class HookrunError(Exception):
    """Base of the errors the CLI reports with a message and an exit code (not a bug)."""

    exit_code = EXIT_USAGE


class ConfigError(HookrunError):
    """The config cannot be used; carries every problem found."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in {path}")
        self.path = path
        self.problems = problems


class UsageError(HookrunError):
    """The command line (or an environment twin of an option) is wrong."""


class LaunchError(HookrunError):
    """A command could not be started; `code` follows shell conventions (126, 127)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(BaseException):
    """Raised from a signal handler when hookrun itself is asked to stop (SIGTERM, SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# --- values and templates: raised while reading the config, turned into Problems there ----------

class ValueProblem(ValueError):
    """A value of the config cannot be used (bad duration, signal, number...)."""


class UnsetVariable(LookupError):
    """A ${VAR} template names a variable that is not set and has no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BadTemplate(ValueError):
    """A template string is malformed (e.g. an unclosed ${)."""


# --- internal signals between layers ------------------------------------------------------------

class Overrun(Exception):
    """A bounded call did not finish in time; it goes on in the background and is ignored."""


class NoAnswer(Exception):
    """An http request went wrong before a status arrived; `final`: retrying cannot help."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


class NoEndpointAnswer(Exception):
    """The endpoints step cannot read the API (`why`: what to fix); `retryable` when another
    attempt may do better (the API server could not be reached)."""

    def __init__(self, message: str, why: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.why = why
        self.retryable = retryable


class UnusableStateDir(Exception):
    """A state directory candidate cannot be used; the message says why."""
