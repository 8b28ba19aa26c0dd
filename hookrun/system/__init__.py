"""The operating system as hookrun uses it: clocks, the process table, supervised commands,
signals and pidfds, output splitting, bounded calls and atomic files. Imports nothing else
of hookrun but its errors."""

from __future__ import annotations

import sys
from collections.abc import Mapping

# Variables the PyInstaller bootloader and the staticx launcher set for their own use only
_BUNDLE_PRIVATE = ("_PYI_", "STATICX_")


def child_base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment children get: the image's own, without what a frozen bundle added."""
    env = dict(environ)
    if getattr(sys, "frozen", False):
        for name in [name for name in env if name.startswith(_BUNDLE_PRIVATE)]:
            del env[name]
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is not None:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
    return env
