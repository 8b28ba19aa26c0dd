"""`${VAR}` / `${VAR:-default}` / `${file:PATH}` / `$$` expansion of config strings.

`${file:PATH}` is the content of a file (a trailing newline dropped), e.g. a token a Secret
mounts: read at every attempt (a rotated token is picked up), never at load time (where the
file may not exist: validate and plan show ***), and masked like a secret everywhere hookrun
writes (config/masking.py) from the moment it is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from hookrun.errors import BadTemplate, UnsetVariable

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{file:([^}]+)\}|\$\{[^}]*\}?")
MAX_FILE = 64 * 1024  # bytes of a ${file:PATH}: a token or a password, not a document
STAND_IN = "***"  # a ${file:PATH} at load time

Reader = Callable[[str], str]


def expand(text: str, env: Mapping[str, str], read: Reader | None = None) -> str:
    """Expand one string; raises UnsetVariable or BadTemplate. `read` reads ${file:PATH}
    (read_file); None: load time, the stand-in."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$$":
            return "$"
        path = match.group(3)
        if path is not None:
            return STAND_IN if read is None else read(path)
        name = match.group(1)
        if name is None:
            raise BadTemplate(f"malformed variable reference {token!r} (use ${{NAME}}, ${{NAME:-default}} "
                              "or ${file:PATH})")
        if name in env:
            return env[name]
        default = match.group(2)
        if default is None:
            raise UnsetVariable(name)
        return default

    return _TOKEN.sub(substitute, text)


def read_file(path: str) -> str:
    """A ${file:PATH}'s value, remembered as a secret before anything can show it."""
    from hookrun.config.masking import remember_secret

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as err:
        raise BadTemplate(f"${{file:{path}}}: cannot read it: {err.strerror or err}") from None
    if len(data) > MAX_FILE:
        raise BadTemplate(f"${{file:{path}}}: larger than {MAX_FILE // 1024} KiB (a token or a "
                          "password is expected)")
    try:
        value = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise BadTemplate(f"${{file:{path}}}: not UTF-8 text") from None
    remember_secret(value)
    return value


def expand_tree(value: object, env: Mapping[str, str], read: Reader | None = None) -> object:
    """Expand every string inside nested lists and tables (keys are left alone)."""
    if isinstance(value, str):
        return expand(value, env, read)
    if isinstance(value, list):
        return [expand_tree(item, env, read) for item in value]
    if isinstance(value, dict):
        return {key: expand_tree(item, env, read) for key, item in value.items()}
    return value


def references(value: object) -> list[tuple[str, bool]]:
    """Every ${VAR} in the strings of `value` (nested lists and tables): (name, has a default)."""
    return [(name, default is not None) for name, default in references_with_defaults(value)]


def references_with_defaults(value: object) -> list[tuple[str, str | None]]:
    """Every ${VAR} in the strings of `value`: (name, its default or None)."""
    if isinstance(value, str):
        return [(m.group(1), m.group(2)) for m in _TOKEN.finditer(value) if m.group(1)]
    if isinstance(value, list):
        return [ref for item in value for ref in references_with_defaults(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references_with_defaults(item)]
    return []
