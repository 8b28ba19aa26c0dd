"""The one way tests run the real hookrun CLI: a child process, bounded in time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from support import ROOT


@dataclass
class Result:
    """A finished hookrun. `out` is stdout (with `merged`, stdout and stderr in one)."""

    code: int
    out: str
    err: str
    seconds: float

    @property
    def log(self) -> str:
        return self.err


Run = Result  # what `run_hookrun` returns: every line hookrun wrote in `out`


def hookrun_argv() -> list[str]:
    """The hookrun under test: $HOOKRUN_BIN (a built binary) or this checkout's package."""
    binary = os.environ.get("HOOKRUN_BIN")
    return [binary] if binary else [sys.executable, "-m", "hookrun"]


HOOKRUN = hookrun_argv()


def hookrun(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0,
            merged: bool = False, cwd: Path = ROOT, inherit: bool = True) -> Result:
    """Run hookrun with `args`. `env` is laid over this process's environment (`inherit`) or
    replaces it; `merged` captures stderr together with stdout in `out`."""
    full_env = {**(os.environ if inherit else {}), **(env or {})}
    started = time.monotonic()
    done = subprocess.run([*hookrun_argv(), *args], env=full_env, cwd=cwd, text=True,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          timeout=timeout, check=False)
    return Result(done.returncode, done.stdout, done.stderr or "", time.monotonic() - started)


def run_hookrun(config: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 60.0) -> Result:
    """hookrun with `config`, logging to stderr, everything it wrote in `out`."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HOOKRUN_CONFIG", None)
    return hookrun("--config", str(config), "--log-target", "stderr", *args, env=full_env,
                   timeout=timeout, merged=True, inherit=False)


def hook_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the caller's hookrun settings, logging to stderr."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HOOKRUN_") and k not in ("POD_UID", "TMPDIR")}
    env.update(HOOKRUN_LOG_TARGET="stderr", HOOKRUN_STATE_DIR=str(tmp_path / "state"),
               HOOKRUN_CONFIG=str(tmp_path / "hookrun.toml"))
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> Result:
    """hookrun in exactly the environment `env` (see hook_env), stdout and stderr apart."""
    return hookrun(*args, env=env, timeout=timeout, inherit=False)
