"""Loading and validating hookrun.toml into immutable Config objects.

Every problem is collected with its location; nothing here prints.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Literal, Protocol

from hookrun.config.schema import (
    Fields,
    Where,
    as_bool,
    as_duration,
    as_nonempty_str,
    as_positive_duration,
    as_str_list,
    int_range,
    one_of,
    suggest,
)
from hookrun.config.templates import expand_tree
from hookrun.errors import BadTemplate, ConfigError, Problem, UnsetVariable, ValueProblem
from hookrun.record import field, record
from hookrun.system.files import read_regular

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_PATH = "/etc/hookrun/hookrun.toml"
MAX_CONFIG = 1 << 20  # bytes: a config is a few KiB; anything near this is not one
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
NO_NEEDS: tuple[str, ...] = ()
OnFailure = Literal["abort", "continue", "ignore"]
ON_FAILURE: tuple[OnFailure, ...] = ("abort", "continue", "ignore")
Once = Literal["container", "pod"]
SETTINGS_KEYS = (
    "grace_period", "shutdown_reserve", "state_dir", "log_format", "log_target",
    "termination_message", "termination_message_path", "secret_env",
)
HOOK_KEYS = ("timeout", "on_failure", "steps")
COMMON_STEP_KEYS = (
    "name", "timeout", "attempt_timeout", "retries", "retry_delay", "backoff",
    "max_retry_delay", "on_failure", "once", "always", "reserve", "needs", "unless",
)
# Variables hookrun itself provides at run time; at load time they get stand-in values.
RUNTIME_VARS = {
    "HOOKRUN_HOOK": "hook",
    "HOOKRUN_STEP": "step",
    "HOOKRUN_TIME": "2000-01-01T00:00:00Z",
    "HOOKRUN_DEADLINE": "1.000",
}


class Action(Protocol):
    """What loading needs of a step kind: to parse its table (steps.Kind is one)."""

    @property
    def parse(self) -> Callable[[object, Where], object | None]: ...


Actions = Mapping[str, Action]  # action name -> its kind: steps.registry()


@record
class Settings:
    """The [settings] table, with defaults."""

    grace_period: float = 30.0
    shutdown_reserve: float = 5.0
    state_dir: str | None = None
    log_format: str = "text"
    log_target: str = "auto"
    termination_message: bool = False
    termination_message_path: str = "/dev/termination-log"
    secret_env: tuple[str, ...] = ()  # more names whose values are masked (masking.py)


@record
class Step:
    """One step of a hook, as the config says it."""

    name: str
    action: str
    raw: object  # the action's value as written (templates unexpanded), re-expanded per attempt
    spec: object  # the action parsed at load time, for describe() and the plan
    where: str
    timeout: float | None = None
    attempt_timeout: float | None = None
    retries: int | None = None  # None: the default (0, or until the deadline for polling kinds)
    retry_delay: float = 1.0
    backoff: str = "fixed"
    max_retry_delay: float = 10.0
    on_failure: OnFailure | None = None  # None: the hook's
    once: Once | None = None
    always: bool = False
    reserve: float = 0.0  # seconds guaranteed to this step: earlier steps are cut to leave them
    needs: tuple[str, ...] = ()  # earlier steps that must have succeeded for this one to run
    unless: tuple[str, ...] = ()  # a fallback: skipped when these earlier steps all succeeded


@record
class Hook:
    """A hook: its timeout, its default on_failure, its steps."""

    name: str
    timeout: float | None
    on_failure: OnFailure
    steps: tuple[Step, ...]


@record
class Config:
    """The whole config, validated."""

    path: str  # what messages call it: the file, or the inline source
    settings: Settings
    hooks: Mapping[str, Hook] = field(default_factory=dict)
    file: str | None = None  # the file it was read from; None when inline


INLINE = "HOOKRUN_CONFIG_TOML"
INLINE_NAME = f"{INLINE} (the config inline, from the environment)"


@record
class Source:
    """Where the config comes from: a file (a directory means DIR/hookrun.toml, as a
    ConfigMap volume is mounted), or the whole TOML inline in HOOKRUN_CONFIG_TOML."""

    name: str  # what messages call it
    file: str | None
    text: str | None = None

    @classmethod
    def choose(cls, flag: str | None, env: Mapping[str, str]) -> Source:
        """--config, else HOOKRUN_CONFIG_TOML, else HOOKRUN_CONFIG, else the default path."""
        if flag:
            return cls.at(flag)
        if env.get(INLINE):
            return cls(INLINE_NAME, None, env[INLINE])
        return cls.at(env.get("HOOKRUN_CONFIG") or DEFAULT_PATH)

    @classmethod
    def at(cls, path: str) -> Source:
        if os.path.isdir(path):  # a ConfigMap volume (its ..data symlinks are followed)
            path = os.path.join(path, "hookrun.toml")
        return cls(path, path)

    def read(self) -> dict[str, object]:
        if self.file is None:
            return parse_toml((self.text or "").encode(), self.name)
        return read_toml(self.file)


def read_toml(path: str) -> dict[str, object]:
    """The parsed file, or ConfigError saying what is wrong with it (line and column for syntax)."""
    if os.path.isdir(path):
        path = os.path.join(path, "hookrun.toml")
    try:  # never blocks (a FIFO), never reads without end (/dev/zero)
        data = read_regular(path, MAX_CONFIG)
    except FileNotFoundError:
        raise _single(path, "file not found (give the path with --config or HOOKRUN_CONFIG)") from None
    except IsADirectoryError:
        raise _single(path, "is a directory, not a TOML file") from None
    except OSError as err:
        raise _single(path, f"cannot read: {err.strerror}") from None
    return parse_toml(data, path)


def parse_toml(data: bytes, name: str) -> dict[str, object]:
    """TOML text, or ConfigError naming `name`."""
    if len(data) > MAX_CONFIG:
        raise _single(name, f"is larger than {MAX_CONFIG >> 10} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _single(name, f"not UTF-8 text (byte {err.start})") from None
    try:
        document: dict[str, object] = tomllib.loads(text)
        return document
    except tomllib.TOMLDecodeError as err:
        raise _single(name, "TOML syntax error: " + _syntax_message(err)) from None
    except RecursionError:
        raise _single(name, "nested too deeply (arrays or tables hundreds of levels deep)") from None


def _syntax_message(err: Exception) -> str:
    message = str(err)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match:
        return f"line {match.group(1)}, column {match.group(2)}: {message[:match.start()].strip()}"
    return message


def _single(path: str, message: str) -> ConfigError:
    return ConfigError(path, [Problem("", None, message)])


def load(path: str, env: Mapping[str, str], actions: Actions) -> Config:
    """Read and validate the whole config; ConfigError lists every problem."""
    return load_source(Source.at(path), env, actions)


def load_source(source: Source, env: Mapping[str, str], actions: Actions) -> Config:
    config = from_document(source.read(), source.name, env, actions)
    return Config(config.path, config.settings, config.hooks, source.file)


def from_document(document: Mapping[str, object], path: str, env: Mapping[str, str],
                  actions: Actions) -> Config:
    problems: list[Problem] = []
    check_env = {**env, **RUNTIME_VARS}
    kinds = actions
    settings = Settings()
    hooks: dict[str, Hook] = {}
    for key, value in document.items():
        if key == "settings":
            settings = _settings(value, check_env, problems)
        elif not isinstance(value, dict):
            hint = " (put it under [settings])" if key in SETTINGS_KEYS else suggest(key, SETTINGS_KEYS)
            problems.append(Problem("", key, f"a top-level key must be a hook table like [{key}]{hint}"))
        elif not NAME.fullmatch(key):
            problems.append(Problem("", key, "hook names use lowercase letters, digits, - and _"))
        else:
            hooks[key] = _hook(key, value, check_env, kinds, problems)
    if problems:
        raise ConfigError(path, problems)
    return Config(path, settings, hooks)


def _expanded(value: object, env: Mapping[str, str], where: str, key: str | None,
              problems: list[Problem]) -> object | None:
    try:
        expanded = expand_tree(value, env)
    except UnsetVariable as err:
        hint = f"set it in the container's env, or give a default: ${{{err.name}:-value}}"
        problems.append(Problem(where, key, f"variable ${{{err.name}}} is not set ({hint})"))
        return None
    except BadTemplate as err:
        problems.append(Problem(where, key, str(err)))
        return None
    bad = _nul_at(expanded)
    if bad is not None:  # no OS call takes one: a path, an argument, a header would be cut or refused
        problems.append(Problem(where, key, f"{bad or 'a value'} contains a NUL byte (\\u0000), "
                                "which no file name, argument or header can hold"))
        return None
    return expanded


def _nul_at(value: object, path: str = "") -> str | None:
    """Where a NUL byte is in `value` (a key path, "" for the value itself), or None."""
    if isinstance(value, str):
        return path if "\0" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, item in items:
        inner = f"{path}.{name}" if path else str(name)
        if isinstance(name, str) and "\0" in name:
            return f"key {inner!r}"
        found = _nul_at(item, inner)
        if found is not None:
            return found
    return None


def _settings(value: object, env: Mapping[str, str], problems: list[Problem]) -> Settings:
    if not isinstance(value, dict):
        problems.append(Problem("", "settings", "must be a table: [settings]"))
        return Settings()
    table = _expanded(value, env, "settings", None, problems)
    if not isinstance(table, dict):
        return Settings()
    f = Fields(table, "settings", problems, SETTINGS_KEYS)
    d = Settings()
    return Settings(
        grace_period=f.take("grace_period", as_positive_duration, d.grace_period),
        shutdown_reserve=f.take("shutdown_reserve", as_duration, d.shutdown_reserve),
        state_dir=f.take("state_dir", as_nonempty_str, d.state_dir),
        log_format=f.take("log_format", one_of("text", "json"), d.log_format),
        log_target=f.take("log_target", as_nonempty_str, d.log_target),
        termination_message=f.take("termination_message", as_bool, d.termination_message),
        termination_message_path=f.take(
            "termination_message_path", as_nonempty_str, d.termination_message_path
        ),
        secret_env=f.take("secret_env", as_str_list, d.secret_env),
    )


def _hook(name: str, table: dict[str, object], env: Mapping[str, str], kinds: Actions,
          problems: list[Problem]) -> Hook:
    f = Fields(table, name, problems, HOOK_KEYS)
    timeout = f.take("timeout", as_positive_duration, None)
    default_on_failure: OnFailure = "continue" if name == "prestop" else "abort"
    on_failure = f.take("on_failure", one_of(*ON_FAILURE), default_on_failure)
    raw_steps = table.get("steps")
    steps: list[Step] = []
    if raw_steps is None:
        f.problem(None, f"hook has no steps (add [[{name}.steps]] tables)")
    elif not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        f.problem("steps", f"must be an array of tables: [[{name}.steps]]")
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_steps, start=1):
            step = _step(name, index, raw, env, kinds, problems)
            if step is None:
                continue
            if step.name in seen:
                problems.append(Problem(step.where, "name", f'duplicate step name "{step.name}" '
                                        "(step names must be unique within a hook)"))
            seen.add(step.name)
            steps.append(step)
        _check_needs(steps, [s.get("name") for s in raw_steps], problems)
    return Hook(name, timeout, on_failure, tuple(steps))


def _check_needs(steps: list[Step], names: list[object], problems: list[Problem]) -> None:
    """`needs` and `unless` name earlier steps of the same hook (steps run in order, once each)."""
    for step in steps:
        earlier = names[:names.index(step.name)] if step.name in names else []
        for key, named in (("needs", step.needs), ("unless", step.unless)):
            for need in named:
                if need == step.name:
                    message = f'"{need}" is this step: ' + ("a step cannot need itself" if key == "needs"
                                                             else "a step cannot be its own fallback")
                elif need in earlier:
                    continue
                elif need in names:
                    message = (f'"{need}" comes after this step: {key} names earlier steps '
                               "(steps run in order)")
                else:
                    known = [n for n in earlier if isinstance(n, str)]
                    message = f'no step "{need}" before this one' + suggest(need, known)
                problems.append(Problem(step.where, key, message))


def _once(value: object) -> Once | None:
    if value is True or value == "container":
        return "container"
    if value is False:
        return None
    if value == "pod":
        return "pod"
    raise ValueProblem(f'expected true, false, "container" or "pod", got {value!r}')


def _step(hook: str, index: int, raw: dict[str, object], env: Mapping[str, str],
          kinds: Actions, problems: list[Problem]) -> Step | None:
    name = raw.get("name")
    where = f"{hook}.steps[{index}]" + (f' (name = "{name}")' if isinstance(name, str) else "")
    count = len(problems)
    known = tuple(kinds)
    actions = [key for key in raw if key in kinds]
    f = Fields(raw, where, problems, COMMON_STEP_KEYS + known)
    name = f.need("name", as_nonempty_str, "", 'e.g. name = "drain"')
    if name and not NAME.fullmatch(name):
        f.problem("name", f"{name!r}: use lowercase letters, digits, - and _ (like \"quit-nginx\")")
    if not actions:
        f.problem(None, "no action: add one of " + ", ".join(known))
    elif len(actions) > 1:
        f.problem(None, "more than one action (" + ", ".join(actions) + "): use one step per action")
    common = {key: raw[key] for key in raw if key in COMMON_STEP_KEYS}
    expanded = _expanded(common, env, where, None, problems)
    g = Fields(expanded if isinstance(expanded, dict) else {}, where, problems, COMMON_STEP_KEYS)
    options = {
        "timeout": g.take("timeout", as_positive_duration, None),
        "attempt_timeout": g.take("attempt_timeout", as_positive_duration, None),
        "retries": g.take("retries", int_range(0, 10000), None),
        "retry_delay": g.take("retry_delay", as_duration, 1.0),
        "backoff": g.take("backoff", one_of("fixed", "exponential"), "fixed"),
        "max_retry_delay": g.take("max_retry_delay", as_duration, 10.0),
        "on_failure": g.take("on_failure", one_of(*ON_FAILURE), None),
        "once": g.take("once", _once, None),
        "always": g.take("always", as_bool, False),
        "reserve": g.take("reserve", as_duration, 0.0),
        "needs": g.take("needs", as_str_list, NO_NEEDS),
        "unless": g.take("unless", as_str_list, NO_NEEDS),
    }
    spec: object = None
    if len(actions) == 1:
        action = actions[0]
        value = _expanded(raw[action], env, where, action, problems)
        if value is not None:
            spec = kinds[action].parse(value, Where(where, action, problems))
    if len(problems) > count:
        return None
    return Step(name=name, action=actions[0], raw=raw[actions[0]], spec=spec, where=where,
                **options)  # type: ignore[arg-type]
