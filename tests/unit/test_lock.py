"""The hook lock and cancelling its holder, with real file locks and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrun.state.lock import Holder, acquire, cancel_holder
from hookrun.system.clock import MonotonicClock
from hookrun.system.procfs import start_ticks

HOLDER = """
import os, sys, time
from hookrun.system.clock import MonotonicClock
from hookrun.state.lock import acquire
dir_fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
clock = MonotonicClock()
fd = acquire(dir_fd, "poststart", sys.argv[2], clock.now() + 5, clock, lambda holder: None)
print(f"ready pid={os.getpid()}", flush=True)
time.sleep(30)
"""


@pytest.fixture
def dir_fd(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.fixture
def holder_proc(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "inst-a"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(f"ready pid={proc.pid}")
    yield proc
    proc.kill()
    proc.wait()


def test_lock_records_its_holder(tmp_path: Path, dir_fd: int) -> None:
    clock = MonotonicClock()
    fd = acquire(dir_fd, "prestop", "inst-a", clock.now() + 1, clock, lambda h: None)
    assert fd is not None
    try:
        text = (tmp_path / "prestop.lock").read_text()
        assert text == f"{os.getpid()} {start_ticks(os.getpid())} inst-a\n"
        assert (tmp_path / "prestop.lock").stat().st_mode & 0o777 == 0o600
    finally:
        os.close(fd)


def test_second_taker_waits_until_its_deadline(dir_fd: int) -> None:
    clock = MonotonicClock()
    first = acquire(dir_fd, "prestop", "i", clock.now() + 1, clock, lambda h: None)
    assert first is not None
    seen: list[Holder | None] = []
    began = clock.now()
    second = acquire(dir_fd, "prestop", "i", began + 0.3, clock, seen.append)
    waited = clock.now() - began
    os.close(first)
    assert second is None
    assert 0.3 <= waited < 0.8
    assert seen == [Holder(os.getpid(), start_ticks(os.getpid()) or 0, "i")]
    third = acquire(dir_fd, "prestop", "i", clock.now() + 0.3, clock, seen.append)
    assert third is not None and len(seen) == 1  # free now: no wait, no note
    os.close(third)


def test_symlinked_lock_file_is_refused(tmp_path: Path, dir_fd: int) -> None:
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "prestop.lock").symlink_to(tmp_path / "elsewhere")
    clock = MonotonicClock()
    with pytest.raises(OSError):
        acquire(dir_fd, "prestop", "i", clock.now() + 0.1, clock, lambda h: None)


def test_cancel_sends_sigterm_to_the_holder(dir_fd: int, holder_proc: subprocess.Popen[str]) -> None:
    holder = cancel_holder(dir_fd, "poststart", "inst-a", frozenset({os.getpid()}))
    assert holder is not None and holder.pid == holder_proc.pid
    assert holder_proc.wait(timeout=5) == -15


def test_cancel_leaves_other_instances_and_protected_pids(
        dir_fd: int, holder_proc: subprocess.Popen[str]) -> None:
    began = time.monotonic()
    assert cancel_holder(dir_fd, "poststart", "inst-b", frozenset()) is None
    assert cancel_holder(dir_fd, "poststart", "inst-a", frozenset({holder_proc.pid}), tries=3) is None
    assert time.monotonic() - began < 2
    assert holder_proc.poll() is None


def test_cancel_ignores_a_stale_record(tmp_path: Path, dir_fd: int) -> None:
    """A record whose pid now belongs to another process (other start time) is not signalled."""
    clock = MonotonicClock()
    fd = acquire(dir_fd, "poststart", "inst-a", clock.now() + 1, clock, lambda h: None)
    assert fd is not None
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "poststart.lock").write_text(f"{bystander.pid} 1 inst-a\n")
        assert cancel_holder(dir_fd, "poststart", "inst-a", frozenset(), tries=3) is None
        assert bystander.poll() is None
    finally:
        os.close(fd)
        bystander.kill()
        bystander.wait()
    assert cancel_holder(dir_fd, "poststart", "inst-a", frozenset()) is None  # not held now
    assert cancel_holder(dir_fd, "nothing", "inst-a", frozenset()) is None
