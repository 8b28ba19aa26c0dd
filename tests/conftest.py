"""Shared fixtures: write configs, run the real hookrun as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def log(self) -> str:
        return self.err


def hookrun_argv() -> list[str]:
    """The hookrun under test: $HOOKRUN_BIN (a built binary) or this checkout's package."""
    binary = os.environ.get("HOOKRUN_BIN")
    return [binary] if binary else [sys.executable, "-m", "hookrun"]


@pytest.fixture
def config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "hookrun.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def hookrun(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        full_env = {**os.environ, "HOOKRUN_LOG_TARGET": "stderr",
                    "HOOKRUN_STATE_DIR": str(tmp_path / "state"), **(env or {})}
        start = time.monotonic()
        proc = subprocess.run([*hookrun_argv(), *args], capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=tmp_path)
        return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    yield run
