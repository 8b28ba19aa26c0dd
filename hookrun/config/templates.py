"""`${VAR}` / `${VAR:-default}` / `$$` expansion of config strings."""

from __future__ import annotations

import re
from collections.abc import Mapping

from hookrun.errors import BadTemplate, UnsetVariable

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")



def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand one string; raises UnsetVariable or BadTemplate."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$$":
            return "$"
        name = match.group(1)
        if name is None:
            raise BadTemplate(f"malformed variable reference {token!r} (use ${{NAME}} or ${{NAME:-default}})")
        if name in env:
            return env[name]
        default = match.group(2)
        if default is None:
            raise UnsetVariable(name)
        return default

    return _TOKEN.sub(substitute, text)


def expand_tree(value: object, env: Mapping[str, str]) -> object:
    """Expand every string inside nested lists and tables (keys are left alone)."""
    if isinstance(value, str):
        return expand(value, env)
    if isinstance(value, list):
        return [expand_tree(item, env) for item in value]
    if isinstance(value, dict):
        return {key: expand_tree(item, env) for key, item in value.items()}
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
