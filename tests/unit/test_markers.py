"""State directory fallbacks and `once` markers, on real directories."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from hookrun.config.load import Config, Settings
from hookrun.engine.plan import Plan, build_plan
from hookrun.engine.plan import read_config as load
from hookrun.state.markers import Store, instance_keys
from hookrun.state.statedir import NoStateDir, StateDir, candidates, open_state_dir

CONFIG = """
[settings]
state_dir = "{state}"
[poststart]
[[poststart.steps]]
name = "warm"
once = true
exec = ["true"]
[[poststart.steps]]
name = "register"
once = "pod"
exec = ["true"]
[[poststart.steps]]
name = "plain"
exec = ["true"]
"""


def config(tmp_path: Path, text: str = CONFIG) -> Config:
    path = tmp_path / "hookrun.toml"
    path.write_text(text.format(state=tmp_path / "state"))
    return load(str(path), {})


def store_for(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[Store, Plan]:
    cfg = config(tmp_path)
    state = open_state_dir(cfg.settings.state_dir, {})
    keys = instance_keys({"POD_UID": "uid-1"} if env is None else env)
    return Store(state, keys), build_plan(cfg, "poststart")


def test_candidates_follow_the_spec_order() -> None:
    env = {"HOOKRUN_STATE_DIR": "/srv/state", "TMPDIR": "/scratch"}
    assert candidates("/data/hr", env) == [
        "/data/hr", "/srv/state", "/run/hookrun", "/scratch/hookrun", "/tmp/hookrun", "/dev/shm/hookrun"]
    assert candidates(None, {})[0] == "/run/hookrun"


def test_state_dir_is_created_private(tmp_path: Path) -> None:
    state = open_state_dir(str(tmp_path / "a" / "state"), {})
    assert isinstance(state, StateDir) and state.fd is not None
    assert stat.S_IMODE(os.stat(state.path).st_mode) == 0o700


def test_symlinked_state_dir_is_refused_and_the_next_candidate_used(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "planted").symlink_to(tmp_path / "elsewhere")
    state = open_state_dir(str(tmp_path / "planted"), {"HOOKRUN_STATE_DIR": str(tmp_path / "good")})
    assert isinstance(state, StateDir)
    assert state.path == str(tmp_path / "good")
    assert state.tried == (f"{tmp_path / 'planted'}: is a symlink (refused)",)


def test_a_file_in_the_way_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    state = open_state_dir(str(tmp_path / "file"), {"HOOKRUN_STATE_DIR": str(tmp_path / "good")})
    assert isinstance(state, StateDir) and "exists and is not a directory" in state.tried[0]


def test_dry_runs_create_nothing(tmp_path: Path) -> None:
    state = open_state_dir(str(tmp_path / "state"), {}, create=False)
    assert isinstance(state, StateDir) and state.fd is None
    assert not (tmp_path / "state").exists()


def test_marker_written_after_success_is_found_and_private(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    assert store.done(plan.hook, [s.step for s in plan.steps]) == {}
    warm = plan.steps[0]
    assert store.record("poststart", warm.step) is None
    done = store.done(plan.hook, [s.step for s in plan.steps])
    assert list(done) == ["warm"]
    assert done["warm"].startswith("already done once in this container (marker written 20")
    [marker] = [p for p in (tmp_path / "state").iterdir()]
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert marker.name.startswith("once.poststart.warm.container.")


def test_pod_marker_is_keyed_by_pod_uid(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path, {"POD_UID": "uid-1"})
    store.record("poststart", plan.steps[1].step)
    assert list(store_for(tmp_path, {"POD_UID": "uid-1"})[0].done(plan.hook, [s.step for s in plan.steps])) == ["register"]
    assert store_for(tmp_path, {"POD_UID": "uid-2"})[0].done(plan.hook, [s.step for s in plan.steps]) == {}


def test_pod_scope_without_pod_uid_is_refused_clearly(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path, {})
    refusal = store.refusal(plan.steps[1].step)
    assert refusal is not None and "POD_UID" in refusal and "metadata.uid" in refusal
    assert store.refusal(plan.steps[0].step) is None
    assert store.refusal(plan.steps[2].step) is None


def test_no_state_dir_refuses_once_steps_only(tmp_path: Path) -> None:
    store = Store(NoStateDir(("/x: read-only file system",)), instance_keys({"POD_UID": "u"}))
    plan = build_plan(config(tmp_path), "poststart")
    refusal = store.refusal(plan.steps[0].step)
    assert refusal is not None
    assert "no writable state directory (/x: read-only file system)" in refusal
    assert "settings.state_dir" in refusal
    assert store.refusal(plan.steps[2].step) is None


def test_an_edited_step_runs_again(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    store.record("poststart", plan.steps[0].step)
    edited = config(tmp_path, CONFIG.replace('exec = ["true"]', 'exec = ["true", "x"]', 1))
    assert Store(store.state, store.keys).done("poststart", edited.hooks["poststart"].steps) == {}
    retimed = config(tmp_path, CONFIG.replace("once = true", 'once = true\ntimeout = "5s"', 1))
    assert Store(store.state, store.keys).done("poststart", retimed.hooks["poststart"].steps) == {}


def test_planted_symlink_marker_is_refused_and_replaced(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    store.record("poststart", plan.steps[0].step)
    [marker] = list((tmp_path / "state").iterdir())
    target = tmp_path / "target"
    target.write_text("precious\n")
    os.chmod(target, 0o600)
    marker.unlink()
    marker.symlink_to(target)
    assert store.done(plan.hook, [s.step for s in plan.steps]) == {}  # a symlink is not a marker
    assert store.record("poststart", plan.steps[0].step) is None
    assert target.read_text() == "precious\n"
    assert not marker.is_symlink() and store.done(plan.hook, [s.step for s in plan.steps]).keys() == {"warm"}


def test_marker_with_open_permissions_is_not_trusted(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    store.record("poststart", plan.steps[0].step)
    [marker] = list((tmp_path / "state").iterdir())
    os.chmod(marker, 0o666)
    assert store.done(plan.hook, [s.step for s in plan.steps]) == {}


def test_stale_temp_files_are_swept_fresh_ones_kept(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    state = tmp_path / "state"
    old, fresh = state / ".once.x.1234.hookrun-tmp", state / ".once.y.5678.hookrun-tmp"
    old.write_text("half")
    fresh.write_text("half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    store.record("poststart", plan.steps[0].step)
    assert not old.exists() and fresh.exists()
    assert [m.step for m in store.markers()] == ["warm"]


def test_list_and_clear_only_touch_this_instance(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path, {"POD_UID": "uid-1"})
    store.record("poststart", plan.steps[0].step)
    store.record("poststart", plan.steps[1].step)
    other_pod = Store(store.state, instance_keys({"POD_UID": "uid-2"}))
    other_pod.record("poststart", plan.steps[1].step)
    mine = [(m.step, m.scope, m.current) for m in store.markers()]
    assert sorted(mine) == [("register", "pod", False), ("register", "pod", True),
                            ("warm", "container", True)]
    assert store.clear() == 2
    assert [(m.step, m.current) for m in store.markers()] == [("register", False)]
    assert other_pod.done(plan.hook, [s.step for s in plan.steps]).keys() == {"register"}


@pytest.mark.parametrize("env", [{}, {"POD_UID": "  "}])
def test_instance_keys(env: dict[str, str]) -> None:
    keys = instance_keys(env)
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert keys.container is not None and keys.container.startswith(boot_id + "/")
    assert keys.container.split("/")[1].isdigit()
    assert keys.container == instance_keys({}).container  # same PID 1, same boot
    assert keys.pod is None and "POD_UID" in keys.problem("pod")


def test_settings_default_has_no_state_dir() -> None:
    assert Settings().state_dir is None


def test_a_marker_is_written_once_and_never_rewritten(tmp_path: Path) -> None:
    store, plan = store_for(tmp_path)
    store.record("poststart", plan.steps[0].step)
    [marker] = list((tmp_path / "state").iterdir())
    first = marker.read_text()
    os.utime(marker, (1, 1))
    assert store.record("poststart", plan.steps[0].step) is None
    assert marker.read_text() == first and marker.stat().st_mtime == 1
