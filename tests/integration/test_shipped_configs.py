"""Every config shipped in config/ validates, and its plans render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run

CONFIGS = sorted((ROOT / "config").glob("*.toml"))


def test_there_are_shipped_configs() -> None:
    assert {p.name for p in CONFIGS} >= {"reference.toml", "logfile.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path: Path, hookrun: Callable[..., Run]) -> None:
    run = hookrun("validate", "--config", str(path), env={"POD_UID": "test-uid"})
    assert run.code == 0, run.err
    assert run.out.startswith(f"{path}: ok")
    for hook in ("prestop", "poststart"):
        if f"[{hook}]" in path.read_text():
            plan = hookrun("plan", hook, "--config", str(path), env={"POD_UID": "test-uid"})
            assert plan.code == 0 and f"plan for {hook}" in plan.out, plan.err
