"""The endpoints step against a local HTTPS server that speaks the Kubernetes API for
EndpointSlices as a pod sees it (tests/support/kube_api.py: list, watch, bookmarks, 410 Gone,
401/403, every document checked against the Kubernetes schema), through the real CLI. No API
server runs here: this is the closest the tests get to a cluster."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_config
from support.cli import Result, run_hookrun
from support.kube_api import FakeKubeAPI, make_certificates

POD_IP = "127.0.2.17"
OTHER_IP = "127.0.2.9"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(tmp_path / "api") as server:
        server.put(server.endpoint_slice("web-abc12", "web", [(POD_IP, "web-0", True, True, False),
                                                             (OTHER_IP, "web-1", True, True, False)]))
        yield server


def config(tmp_path: Path, api: FakeKubeAPI, endpoints: str = "", extra: str = "",
           timeout: str = "10s", account: Path | None = None) -> Path:
    return write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "endpoint-race"
endpoints = {{ serviceaccount = "{account or api.serviceaccount}", margin = "200ms"{endpoints} }}
timeout = "{timeout}"
on_failure = "ignore"
[[run.steps]]
name = "sleep-instead"
unless = ["endpoint-race"]
sleep = "300ms"
{extra}''')


def env_for(api: FakeKubeAPI, **extra: str) -> dict[str, str]:
    return {**api.env, "POD_IP": POD_IP, **extra}


def in_background(path: Path, env: dict[str, str]) -> tuple[threading.Thread, list[Result]]:
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(run_hookrun(path, "run", "run", env=env)))
    thread.start()
    return thread, results


def wait_for_watch(api: FakeKubeAPI, seconds: float = 10.0) -> None:
    """Until hookrun has listed and is watching (its start-up is not part of what is timed)."""
    end = time.monotonic() + seconds
    while api.open_watches() == 0:
        assert time.monotonic() < end, "hookrun never started watching"
        time.sleep(0.01)


def test_ends_when_the_pod_is_no_ready_endpoint_then_waits_the_margin(tmp_path: Path, api: FakeKubeAPI) -> None:
    thread, results = in_background(config(tmp_path, api), env_for(api))
    wait_for_watch(api)
    time.sleep(0.5)
    assert thread.is_alive(), results  # still a ready endpoint: still waiting
    changed = time.monotonic()
    api.set_ready(POD_IP, False, serving=True, terminating=True)  # what the controller does
    thread.join(20)
    took = time.monotonic() - changed
    result = results[0]
    assert result.code == 0, result.out
    assert 0.2 <= took <= 0.2 + 1.5, (took, result.out)  # the margin, plus the time to exit
    assert "endpoint-race: ok: no ready endpoint of any Service after" in result.out
    waited = re.search(r"then waited (\d+)ms", result.out)  # the margin
    assert waited is not None and 200 <= int(waited.group(1)) <= 1200, result.out
    assert "sleep-instead: skipped: not needed: endpoint-race succeeded (unless)" in result.out
    lists = [r for r in api.requests if not r.watch]
    assert lists and all(r.authorized for r in api.requests)
    assert api.token not in result.out


@pytest.mark.parametrize("change", ["removed", "slice deleted", "other service only"])
def test_other_ways_of_leaving_the_endpoints(tmp_path: Path, api: FakeKubeAPI, change: str) -> None:
    api.put(api.endpoint_slice("admin-x1", "admin", [(POD_IP, "web-0", True, True, False)]))
    only = ', services = ["web"]' if change == "other service only" else ""
    thread, results = in_background(config(tmp_path, api, only), env_for(api))
    wait_for_watch(api)
    if change == "removed":
        api.remove_address(POD_IP)
    elif change == "slice deleted":
        api.delete("web-abc12")
        api.delete("admin-x1")
    else:  # admin still lists the pod as ready, but only web counts
        api.put(api.endpoint_slice("web-abc12", "web", [(OTHER_IP, "web-1", True, True, False)]))
    thread.join(20)
    assert results[0].code == 0, results[0].out
    which = "Service web" if only else "any Service"
    assert f"endpoint-race: ok: no ready endpoint of {which} after" in results[0].out


def test_a_pod_behind_no_service_is_done_at_once_and_min_is_a_floor(tmp_path: Path, api: FakeKubeAPI) -> None:
    api.delete("web-abc12")
    started = time.monotonic()
    result = run_hookrun(config(tmp_path, api, ', min = "1500ms"'), "run", "run", env=env_for(api))
    took = time.monotonic() - started
    assert result.code == 0, result.out
    assert 1.5 <= took <= 1.5 + 3.0, (took, result.out)
    assert "endpoint-race: ok: no ready endpoint of any Service after" in result.out


def test_a_broken_or_expired_watch_is_resumed_by_a_new_list(tmp_path: Path, api: FakeKubeAPI) -> None:
    thread, results = in_background(config(tmp_path, api), env_for(api))
    wait_for_watch(api)
    lists_before = sum(1 for r in api.requests if not r.watch)
    api.drop_watches()  # connection cut: list again, watch again
    time.sleep(0.5)
    api.expire_history()
    api.drop_watches()
    time.sleep(0.5)
    (tmp_path / "api" / "serviceaccount" / "token").write_text("rotated-token-" + "x" * 30)  # kubelet rotates it
    api.token = "rotated-token-" + "x" * 30
    api.drop_watches()
    wait_for_watch(api)
    api.set_ready(POD_IP, False, terminating=True)
    thread.join(20)
    assert results[0].code == 0, results[0].out
    assert sum(1 for r in api.requests if not r.watch) >= lists_before + 2
    assert api.requests[-1].authorized


def test_never_removed_times_out_saying_who_still_lists_the_pod(tmp_path: Path, api: FakeKubeAPI) -> None:
    started = time.monotonic()
    result = run_hookrun(config(tmp_path, api, timeout="1500ms"), "run", "run", env=env_for(api))
    took = time.monotonic() - started
    assert result.code == 0, result.out  # ignored, and the fallback ran
    assert 1.5 <= took <= 1.5 + 4.0, took
    assert "endpoint-race: timeout: still a ready endpoint of web after 1.4" in result.out or \
        "endpoint-race: timeout: still a ready endpoint of web after 1.5" in result.out, result.out
    assert "sleep-instead: ok: slept 3" in result.out


@pytest.mark.parametrize("case", ["forbidden", "wrong token", "refused", "untrusted", "no token",
                                  "no pod ip", "not in a pod", "bad api host", "bad api port"])
def test_what_cannot_work_fails_fast_and_the_fallback_runs(tmp_path: Path, api: FakeKubeAPI, case: str) -> None:
    env = env_for(api)
    expected = {
        "forbidden": ("HTTP 403 from the API server: endpointslices.discovery.k8s.io is forbidden",
                      "grant get, list and watch on endpointslices (discovery.k8s.io) in shop"),
        "wrong token": ("HTTP 401 from the API server: Unauthorized", "the ServiceAccount token was not accepted"),
        "refused": ("the API server at https://127.0.0.1:", "refused the connection"),
        "untrusted": ("the API server at https://127.0.0.1:", "is not trusted by the ServiceAccount CA"),
        "no token": ("no ServiceAccount token at", "automountServiceAccountToken: false?"),
        "no pod ip": ("the pod's IP is unknown", "set POD_IP from the downward API"),
        "not in a pod": ("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set", "falls back"),
        "bad api host": ("KUBERNETES_SERVICE_HOST/PORT do not make an address: not a usable host name",
                         "label must be 1 to 63 characters"),
        "bad api port": ("KUBERNETES_SERVICE_HOST/PORT do not make an address: port '44x'", "falls back"),
    }[case]
    account = api.serviceaccount
    if case == "forbidden":
        api.forbidden = True
    elif case == "wrong token":  # hookrun reads another ServiceAccount directory
        account = tmp_path / "other-account"
        shutil.copytree(api.serviceaccount, account)
        (account / "token").write_text("not-the-token")
    elif case == "refused":
        api.stop()
    elif case == "untrusted":
        other = tmp_path / "other-ca"
        other.mkdir()
        shutil.copy(make_certificates(other)[0], account / "ca.crt")
    elif case == "no token":
        (account / "token").unlink()
    elif case == "no pod ip":
        env.pop("POD_IP")
    elif case == "bad api host":
        env["KUBERNETES_SERVICE_HOST"] = "k" * 64 + ".local"
    elif case == "bad api port":
        env["KUBERNETES_SERVICE_PORT"] = "44x"
    else:
        env.pop("KUBERNETES_SERVICE_HOST")
    started = time.monotonic()
    result = run_hookrun(config(tmp_path, api, account=account), "run", "run", env=env)
    took = time.monotonic() - started
    assert result.code == 0, result.out
    assert took < 5.0, (took, result.out)  # not the step's 10 s
    for text in expected:
        assert text in result.out, result.out
    assert "endpoint-race: failed:" in result.out and "sleep-instead: ok: slept 3" in result.out
    assert api.token not in result.out


def test_validate_and_plan_describe_the_step(tmp_path: Path, api: FakeKubeAPI) -> None:
    path = config(tmp_path, api, ', services = ["web", "web-canary"], min = "2s"')
    plan = run_hookrun(path, "plan", "run")
    assert plan.code == 0, plan.out
    assert ("wait until this pod is no ready endpoint of Service web, web-canary (EndpointSlices, "
            "in-cluster API), then 200ms; at least 2s in all") in plan.out
    assert "unless=endpoint-race" in plan.out
    bad = write_config(tmp_path, '[run]\n[[run.steps]]\nname = "e"\nendpoints = { margin = "45s", pods = 1 }\n',
                       "bad.toml")
    result = run_hookrun(bad, "validate")
    assert result.code == 2, result.out
    assert 'key "margin": at most 30s' in result.out and "unknown key" in result.out
