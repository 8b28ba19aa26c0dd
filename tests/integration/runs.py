"""Running the real hookrun CLI from tests with an environment of its own, and watching processes."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from conftest import state

HOOKRUN = [sys.executable, "-m", "hookrun"]
TREE = str(Path(__file__).with_name("tree.py"))
READY = re.compile(r"ready pid=(\d+)")


def hook_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the caller's hookrun settings, logging to stderr."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HOOKRUN_") and k not in ("POD_UID", "TMPDIR")}
    env.update(HOOKRUN_LOG_TARGET="stderr", HOOKRUN_STATE_DIR=str(tmp_path / "state"),
               HOOKRUN_CONFIG=str(tmp_path / "hookrun.toml"))
    env.update(extra)
    return env


def alive(pid: int) -> bool:
    """Running (a zombie has exited)."""
    return state(pid) not in (None, "Z", "X")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Wait up to `seconds` for every pid to exit; those still running."""
    end = time.monotonic() + seconds
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.01)


def read_until(stream: IO[str], pattern: str, seconds: float, count: int = 1) -> list[str]:
    """Lines read from `stream` until `count` of them match `pattern` (or fail after `seconds`).

    Reads the pipe a byte at a time, so nothing past the last line stays in a buffer the
    selector cannot see, and the stream can still be read normally afterwards.
    """
    lines: list[str] = []
    line = b""
    end = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(stream.fileno(), selectors.EVENT_READ)
        while sum(1 for text in lines if re.search(pattern, text)) < count:
            left = end - time.monotonic()
            assert left > 0 and sel.select(left), f"no {pattern!r} within {seconds}s: {lines}"
            byte = os.read(stream.fileno(), 1)
            assert byte, f"end of output before {pattern!r}: {lines}"
            line += byte
            if byte == b"\n":
                lines.append(line.decode())
                line = b""
    return lines


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HOOKRUN, *args], env=env, text=True, capture_output=True,
                          timeout=timeout, check=False)
