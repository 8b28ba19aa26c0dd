"""Every ready config in config/ validates with nothing set in the environment, and fits its budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT
from support.cli import hookrun, run_hookrun

CONFIGS = sorted((ROOT / "config").glob("*.toml"))


def test_there_are_configs() -> None:
    assert {"nginx.toml", "reference.toml", "logfile.toml", "gunicorn.toml", "uvicorn.toml", "haproxy.toml",
            "php-fpm.toml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_config_validates_and_fits(config: Path) -> None:
    result = run_hookrun(config, "validate")
    assert result.code == 0, result.out
    assert f"{config}: ok" in result.out
    assert "does not fit" not in result.out and "warning" not in result.out, result.out


def test_config_from_a_configmap_volume_or_inline(tmp_path: Path) -> None:
    """A directory means DIR/hookrun.toml (through a ConfigMap volume's ..data links); the whole
    TOML may come inline in HOOKRUN_CONFIG_TOML; errors name the source they came from."""
    text = '[run]\n[[run.steps]]\nname = "a"\nexec = ["true"]\n'
    volume = tmp_path / "cm"
    (volume / "..2026_01_01").mkdir(parents=True)
    (volume / "..2026_01_01" / "hookrun.toml").write_text(text)
    (volume / "..data").symlink_to("..2026_01_01")
    (volume / "hookrun.toml").symlink_to("..data/hookrun.toml")
    env = {"HOOKRUN_STATE_DIR": str(tmp_path / "state"), "HOOKRUN_LOG_TARGET": "stderr"}
    by_dir = hookrun("run", "run", env={**env, "HOOKRUN_CONFIG": str(volume)}, merged=True)
    assert by_dir.code == 0 and "a: ok: true exited 0" in by_dir.out, by_dir.out
    inline = hookrun("run", "run", env={**env, "HOOKRUN_CONFIG_TOML": text}, merged=True)
    assert inline.code == 0 and "a: ok: true exited 0" in inline.out, inline.out
    broken = hookrun("validate", env={**env, "HOOKRUN_CONFIG_TOML": text.replace("]\n", "\n")},
                     merged=True)
    assert broken.code == 2
    assert broken.out.startswith("hookrun: invalid config HOOKRUN_CONFIG_TOML (the config inline")
    missing = hookrun("validate", env={**env, "HOOKRUN_CONFIG": str(tmp_path)}, merged=True)
    assert missing.code == 2 and f"{tmp_path / 'hookrun.toml'}: file not found" in missing.out
