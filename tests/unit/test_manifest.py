"""`hookrun manifest`: the YAML parses, is valid against the Kubernetes schema (checked by the
kubernetes-validate package with the schemas it ships, strict: unknown fields are errors), and
its grace period covers the prestop worst case plus the reserve."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hookrun.emulator.manifest import TMP_DIR, pod_spec, render, to_yaml
from hookrun.engine.plan import build_plan
from hookrun.engine.plan import read_config as load

ROOT = Path(__file__).parent.parent.parent
VERSIONS = ("1.29", "1.37")  # an old supported release and the newest the validator knows


def manifest(tmp: Path, config: str, *options: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "hookrun.toml"
    path.write_text(config)
    return subprocess.run([sys.executable, "-m", "hookrun", "--config", str(path), "manifest", *options],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=30, check=False)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOOKRUN_")}


def validate(spec: dict[str, Any]) -> None:
    """The fragment as a Pod and inside a Deployment's template, against the real schema."""
    container = {**spec["containers"][0], "image": "registry.example/app:1"}
    full = {**spec, "containers": [container]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}, "spec": full}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
                  "spec": {"selector": {"matchLabels": {"app": "x"}},
                           "template": {"metadata": {"labels": {"app": "x"}}, "spec": full}}}
    for version in VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
        kubernetes_validate.validate(deployment, version, strict=True)
        # the fragment alone is a valid PodSpec too (image is not required by the schema)
        kubernetes_validate.validate({**pod, "spec": spec}, version, strict=True)


def env_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in spec["containers"][0]["env"]}


FULL = """
[settings]
grace_period = "20s"
shutdown_reserve = "5s"

[poststart]
[[poststart.steps]]
name = "once-per-pod"
shell = "echo hi"
once = "pod"

[prestop]
[[prestop.steps]]
name = "deregister"
exec = ["true"]
timeout = "10s"
[[prestop.steps]]
name = "wait"
sleep = "12.5s"
"""


def test_grace_period_covers_the_prestop_worst_case(tmp_path: Path) -> None:
    done = manifest(tmp_path, FULL)
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load(done.stdout)
    validate(spec)
    # worst case 10 s + 12.5 s, plus the 5 s reserve: 27.5 s, rounded up; above grace_period 20 s
    assert spec["terminationGracePeriodSeconds"] == 28
    assert env_of(spec)["HOOKRUN_GRACE_PERIOD"] == "28s"
    assert env_of(spec)["POD_UID"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
    lifecycle = spec["containers"][0]["lifecycle"]
    assert lifecycle["postStart"]["exec"]["command"] == ["/usr/local/bin/hookrun", "poststart"]
    assert lifecycle["preStop"]["exec"]["command"] == ["/usr/local/bin/hookrun", "prestop"]
    assert "volumes" not in spec
    # with that grace period the prestop plan fits its budget
    plan = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(tmp_path / "hookrun.toml"),
                           "--grace-period", env_of(spec)["HOOKRUN_GRACE_PERIOD"], "plan", "prestop",
                           "--format", "json"], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          check=True)
    assert '"fits": true' in plan.stdout
    assert "is too short" in done.stdout  # the comment says why it is above grace_period


def test_grace_period_never_below_the_setting(tmp_path: Path) -> None:
    config = FULL.replace('grace_period = "20s"', 'grace_period = "45s"').replace('once = "pod"', "")
    spec = yaml.safe_load(manifest(tmp_path, config).stdout)
    validate(spec)
    assert spec["terminationGracePeriodSeconds"] == 45
    assert env_of(spec)["HOOKRUN_GRACE_PERIOD"] == "45s"
    assert "POD_UID" not in env_of(spec)


def test_every_shipped_config(tmp_path: Path) -> None:
    for path in sorted((ROOT / "config").glob("*.toml")):
        config = load(str(path), clean_env())
        prestop = build_plan(config, "prestop") if "prestop" in config.hooks else None
        for read_only_root in (False, True):
            spec, *objects = yaml.safe_load_all(render(config, prestop, read_only_root=read_only_root))
            validate(spec)
            for document in objects:  # the ServiceAccount, Role and RoleBinding of an endpoints step
                for version in VERSIONS:
                    kubernetes_validate.validate(document, version, strict=True)
            if any(step.action == "endpoints" for hook in config.hooks.values() for step in hook.steps):
                assert [d["kind"] for d in objects] == ["ServiceAccount", "Role", "RoleBinding"], path
                assert spec["serviceAccountName"] == objects[0]["metadata"]["name"]
            grace = spec["terminationGracePeriodSeconds"]
            assert grace >= config.settings.grace_period
            if prestop is not None:
                assert grace >= prestop.worst_case_s + config.settings.shutdown_reserve
                assert grace == max(math.ceil(prestop.worst_case_s + config.settings.shutdown_reserve),
                                    math.ceil(config.settings.grace_period))
            assert env_of(spec)["HOOKRUN_GRACE_PERIOD"] == f"{grace}s"


def test_read_only_root_gets_writable_volumes(tmp_path: Path) -> None:
    done = manifest(tmp_path, FULL, "--read-only-root", "--container", "web", "--binary", "/opt/hook run/hr")
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load(done.stdout)
    validate(spec)
    box = spec["containers"][0]
    assert box["name"] == "web"
    assert box["lifecycle"]["preStop"]["exec"]["command"] == ["/opt/hook run/hr", "prestop"]
    assert box["securityContext"] == {"readOnlyRootFilesystem": True}
    mounts = {m["name"]: m["mountPath"] for m in box["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(mounts) == set(volumes) == {"hookrun-state", "hookrun-tmp"}
    assert all("emptyDir" in v for v in volumes.values())
    env = env_of(spec)
    assert env["HOOKRUN_STATE_DIR"] == mounts["hookrun-state"] == "/run/hookrun"
    assert env["TMPDIR"] == mounts["hookrun-tmp"] == TMP_DIR


def test_state_dir_setting_is_the_mount(tmp_path: Path) -> None:
    config = FULL.replace('shutdown_reserve = "5s"', 'shutdown_reserve = "5s"\nstate_dir = "/var/lib/hr"')
    spec = yaml.safe_load(manifest(tmp_path, config, "--read-only-root").stdout)
    validate(spec)
    assert spec["containers"][0]["volumeMounts"][0] == {"name": "hookrun-state", "mountPath": "/var/lib/hr"}
    assert env_of(spec)["HOOKRUN_STATE_DIR"] == "/var/lib/hr"


def test_the_validator_rejects_what_kubernetes_would(tmp_path: Path) -> None:
    """The check above is live: a wrong type or a misspelt field fails it."""
    spec = yaml.safe_load(manifest(tmp_path, FULL).stdout)
    wrong_type = {**spec, "terminationGracePeriodSeconds": "28s"}
    misspelt = {**spec, "containers": [{**spec["containers"][0], "lifecycel": {}}]}
    for broken in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(broken)


@pytest.mark.parametrize("options", [["--container", "Web_1"], ["--container", ""], ["--binary", "a\nb"]])
def test_usage_errors(tmp_path: Path, options: list[str]) -> None:
    done = manifest(tmp_path, FULL, *options)
    assert done.returncode == 2
    assert done.stderr.startswith("hookrun: --") and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_config_error_is_reported(tmp_path: Path) -> None:
    done = manifest(tmp_path, FULL.replace('sleep = "12.5s"', 'sleep = "soon"'))
    assert done.returncode == 2 and "expected a duration" in done.stderr


NASTY = ["", "yes", "No", "null", "~", "true", "1e3", "0x1F", "012", "1_000", ".inf", "-", "- a", ": x",
         "a: b", "#c", "a #b", "'q'", '"dq"', "back\\slash", "tab\there", "new\nline", "é ✓ 😀", "\u2028",
         "\x00\x07\x7f", " lead", "trail ", "@at", "`tick", "%pct", "!bang", "&anchor", "*alias", "|", ">",
         "[x]", "{y}", ",", "?q", "2024-01-01", "=", "<<", "on", "y", "3s", "/usr/bin/x"]


def test_yaml_writer_round_trips_any_string() -> None:
    data = {"plain": NASTY, "nested": [{"k": s, "n": 3, "b": False, "z": None} for s in NASTY],
            "map": {f"key{i}": s for i, s in enumerate(NASTY)}, "empty": {}, "none": [], "<<": 1}
    assert yaml.safe_load(to_yaml(data)) == data


def test_pod_spec_without_hooks_has_no_lifecycle(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[other]\n[[other.steps]]\nname = "x"\nexec = ["true"]\n')
    config = load(str(tmp_path / "c.toml"), {})
    spec = pod_spec(config, None)
    validate(spec)
    assert "lifecycle" not in spec["containers"][0]  # type: ignore[index]
    assert spec["terminationGracePeriodSeconds"] == 30


TEMPLATED = """
[settings]
grace_period = "${GRACE:-20s}"
[prestop]
[[prestop.steps]]
name = "tell"
http = { url = "${MONITOR_URL}/leave" }
timeout = "2s"
[[prestop.steps]]
name = "quit"
signal = { pidfile = "${APP_PIDFILE:-/run/app.pid}" }
"""


@pytest.mark.parametrize("inline", [False, True])
def test_inject_gives_an_init_container_a_volume_and_the_config(tmp_path: Path, inline: bool) -> None:
    env = {**clean_env(), "MONITOR_URL": "http://monitor:8080"}
    path = tmp_path / "hookrun.toml"
    path.write_text(TEMPLATED)
    done = subprocess.run([sys.executable, "-m", "hookrun", "--config", str(path), "manifest", "--inject",
                           "registry.example/hookrun:0.1.0", *(["--inline-config"] if inline else [])],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    documents = list(yaml.safe_load_all(done.stdout))
    spec = documents[0]
    validate(spec)
    [init] = spec["initContainers"]
    assert init["image"] == "registry.example/hookrun:0.1.0"
    assert init["command"] == ["/usr/local/bin/hookrun", "install", "/hookrun-bin"]
    box = spec["containers"][0]
    assert box["lifecycle"]["preStop"]["exec"]["command"] == ["/hookrun-bin/hookrun", "prestop"]
    mounts = {m["name"]: m for m in box["volumeMounts"]}
    assert mounts["hookrun-bin"] == {"name": "hookrun-bin", "mountPath": "/hookrun-bin", "readOnly": True}
    variables = env_of(spec)
    assert variables["MONITOR_URL"] == "" and variables["APP_PIDFILE"] == "/run/app.pid"
    assert variables["GRACE"] == "20s" and variables["TMPDIR"] == "/hookrun-tmp"
    assert "# the config reads ${MONITOR_URL}: no default: set it" in done.stdout
    if inline:
        assert len(documents) == 1 and variables["HOOKRUN_CONFIG_TOML"] == TEMPLATED
        assert "hookrun-config" not in mounts
    else:
        config_map = documents[1]
        assert config_map["data"] == {"hookrun.toml": TEMPLATED}
        assert mounts["hookrun-config"]["mountPath"] == "/etc/hookrun"
        for version in VERSIONS:
            kubernetes_validate.validate(config_map, version, strict=True)
