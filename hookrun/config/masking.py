"""Masking secret values in everything hookrun writes, as CI systems do.

The values of environment variables whose names match `settings.secret_env` (glob patterns,
case-insensitive) or the default patterns below are replaced by *** wherever they would appear:
log lines (command output included), plans, validate and error messages, the termination
message, emulate's timelines. Values shorter than 4 characters are not masked: masking "1" or
"yes" would garble every line and hide nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

DEFAULT_SECRET_ENV = (
    "*PASSWORD*", "*PASSWD*", "*_PASS", "*SECRET*", "*TOKEN*", "*API_KEY*", "*APIKEY*",
    "*ACCESS_KEY*", "*PRIVATE_KEY*", "*CREDENTIAL*", "*AUTH*", "*_PAT", "*SESSION_KEY*",
)
MIN_LENGTH = 4
MASK = "***"
# values read from files for ${file:PATH} templates (config/templates.py): secret wherever they
# come from, for every masker of this process
_READ: set[str] = set()


def remember_secret(value: str) -> None:
    if len(value) >= MIN_LENGTH:
        _READ.add(value)


def _glob(name: str, pattern: str) -> bool:
    """fnmatch's rules; the usual `*WORD*`, `*WORD` and `WORD*` without compiling a regex (every
    hook pays this at start-up)."""
    inner = pattern.strip("*")
    if "*" not in inner and "?" not in inner and "[" not in inner:
        if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
            return inner in name
        if pattern.startswith("*"):
            return name.endswith(inner)
        if pattern.endswith("*"):
            return name.startswith(inner)
        return name == pattern
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


class Masker:
    """text -> text with every secret value replaced by ***. Add patterns as they become known."""

    def __init__(self, env: Mapping[str, str], patterns: Iterable[str] = DEFAULT_SECRET_ENV) -> None:
        self.env = env
        self.patterns: list[str] = []
        self.values: set[str] = set()
        self._regex: re.Pattern[str] | None = None
        self._read = 0
        self.add(patterns)

    def add(self, patterns: Iterable[str]) -> None:
        new = [p.upper() for p in patterns if p.upper() not in self.patterns]
        if not new:
            return
        self.patterns += new
        for name, value in self.env.items():
            if len(value) >= MIN_LENGTH and any(_glob(name.upper(), p) for p in new):
                self.values.add(value)
        self._compile()

    def _compile(self) -> None:
        self._read = len(_READ)
        ordered = sorted(self.values | _READ, key=len, reverse=True)  # the longest first: no partial mask
        self._regex = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._read != len(_READ):  # a ${file:PATH} was read since
            self._compile()
        return text if self._regex is None else self._regex.sub(MASK, text)
