"""Every ready config in config/ validates with nothing set in the environment, and fits its budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT
from support.cli import run_hookrun

CONFIGS = sorted((ROOT / "config").glob("*.toml"))


def test_there_are_configs() -> None:
    assert {"nginx.toml", "reference.toml", "logfile.toml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_config_validates_and_fits(config: Path) -> None:
    result = run_hookrun(config, "validate")
    assert result.code == 0, result.out
    assert f"{config}: ok" in result.out
    assert "does not fit" not in result.out and "warning" not in result.out, result.out
