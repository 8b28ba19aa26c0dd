"""Reading TOML tables into typed values while collecting every problem with its location."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from hookrun.config.values import parse_duration, parse_signal
from hookrun.errors import Problem, ValueProblem
from hookrun.record import record

T = TypeVar("T")
W = TypeVar("W", bound=str)


def suggest(word: str, choices: Collection[str]) -> str:
    import difflib  # only for a config with a typo: not paid by every start

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


_MISSING = object()


class Fields:
    """One TOML table being read; records problems instead of raising."""

    def __init__(
        self,
        table: Mapping[str, object],
        where: str,
        problems: list[Problem],
        allowed: Collection[str],
    ) -> None:
        self.table = table
        self.where = where
        self.problems = problems
        self.ok = True
        for key in table:
            if key not in allowed:
                self.problem(key, "unknown key" + suggest(key, allowed))

    def problem(self, key: str | None, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.where, key, message))

    def has(self, key: str) -> bool:
        return key in self.table

    def take(self, key: str, convert: Callable[[object], T], default: T) -> T:
        value = self.table.get(key, _MISSING)
        if value is _MISSING:
            return default
        try:
            return convert(value)
        except ValueProblem as err:
            self.problem(key, str(err))
            return default

    def need(self, key: str, convert: Callable[[object], T], default: T, hint: str = "") -> T:
        if key not in self.table:
            self.problem(None, f'missing key "{key}"' + (f" ({hint})" if hint else ""))
            return default
        return self.take(key, convert, default)


# --- converters: each raises ValueProblem with a message that says what was expected ---


def as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueProblem(f"expected a string, got {_kind(value)}")
    return value


def as_nonempty_str(value: object) -> str:
    text = as_str(value)
    if not text:
        raise ValueProblem("must not be empty")
    return text


def as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueProblem(f"expected true or false, got {_kind(value)}")
    return value


def as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueProblem(f"expected a whole number, got {_kind(value)}")
    return value


def int_range(low: int, high: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        number = as_int(value)
        if not low <= number <= high:
            raise ValueProblem(f"expected a number from {low} to {high}, got {number}")
        return number

    return convert


def as_port(value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return int_range(1, 65535)(value)


def as_host(value: object) -> str:
    """A host to connect to: an IPv4 or IPv6 address, or a name the resolver can be asked for
    (each dot-separated label 1 to 63 characters, 253 in all; international names as IDNA)."""
    host = as_nonempty_str(value)
    problem = host_problem(host)
    if problem:
        raise ValueProblem(problem)
    return host


def host_problem(host: str) -> str | None:
    """Why `host` cannot be connected to, or None. (No module is imported for an ASCII name:
    this runs when a config with a tcp or http step is read.)"""
    shown = f"{host[:80]!r}{'...' if len(host) > 80 else ''}"
    if ":" in host:
        import ipaddress

        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return f"not a usable IPv6 address: {shown}"
        return None
    name = host[:-1] if host.endswith(".") else host
    if any(ord(c) < 0x21 or c in "/?#@[]\\" for c in name):
        return f"not a usable host name: {shown}"
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            name = ""
    if not name or len(name) > 253 or not all(1 <= len(label) <= 63 for label in name.split(".")):
        return f"not a usable host name: {shown} (each dot-separated label must be 1 to 63 characters)"
    return None


def as_duration(value: object) -> float:
    return parse_duration(value)


def as_positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueProblem("must be longer than zero")
    return seconds


def as_signal(value: object) -> int:
    return parse_signal(value)


def as_str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueProblem(f"expected a list of strings, got {_kind(value)}")
    return tuple(value)


def as_argv(value: object) -> tuple[str, ...]:
    argv = as_str_list(value)
    if not argv or not argv[0]:
        raise ValueProblem('expected a non-empty list like ["nginx", "-s", "quit"]')
    return argv


def as_int_list(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise ValueProblem(f"expected a list of whole numbers, got {_kind(value)}")
    return tuple(value)


def as_str_map(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueProblem(f"expected a table of strings, got {_kind(value)}")
    return tuple((str(k), v) for k, v in value.items())


def one_of(*choices: W) -> Callable[[object], W]:
    """One of the given words; typed as the Literal the choices are declared with."""

    def convert(value: object) -> W:
        text = as_str(value)
        for choice in choices:
            if text == choice:
                return choice
        listed = ", ".join(f'"{c}"' for c in choices)
        raise ValueProblem(f"expected one of {listed}, got {text!r}" + suggest(text, choices))

    return convert


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    name = names.get(type(value))
    if name is None:
        return type(value).__name__
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"{name} ({value!r})"
    return name


@record
class Where:
    """Location of an action's value in the config, for problems."""

    step: str  # e.g. 'prestop.steps[1] (name = "drain")'
    action: str
    problems: list[Problem]

    def fields(self, table: Mapping[str, object], allowed: tuple[str, ...]) -> Fields:
        return Fields(table, f"{self.step}.{self.action}", self.problems, allowed)

    def problem(self, message: str) -> None:
        self.problems.append(Problem(self.step, self.action, message))
