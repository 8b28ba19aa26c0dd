"""build_plan is pure: budgets, worst cases, latest starts, warnings, the JSON document."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hookrun.engine.plan import build_plan
from hookrun.engine.plan import read_config as load
from hookrun.engine.render import render_plan
from hookrun.errors import ConfigError

NGINXISH = """
    [settings]
    grace_period = "30s"
    shutdown_reserve = "5s"
    [prestop]
    [[prestop.steps]]
    name = "log"
    write = { path = "/tmp/x", text = "bye" }
    on_failure = "ignore"
    [[prestop.steps]]
    name = "endpoint-race"
    sleep = "5s"
    [[prestop.steps]]
    name = "notify"
    exec = ["curl", "-X", "POST", "http://127.0.0.1/x"]
    attempt_timeout = "2s"
    retries = 2
    retry_delay = "1s"
    backoff = "exponential"
    [[prestop.steps]]
    name = "quit"
    exec = ["nginx", "-s", "quit"]
    timeout = "3s"
    [[prestop.steps]]
    name = "gone"
    wait_file = { path = "/run/nginx.pid", state = "absent" }
    timeout = "10s"
"""


def test_prestop_budget_worst_cases_and_latest_starts(config: Callable[[str], Path]) -> None:
    plan = build_plan(load(str(config(NGINXISH)), {}), "prestop")
    assert plan.budget_s == 25.0
    assert plan.budget_from == "grace_period 30s - shutdown_reserve 5s"
    rows = [(s.name, s.attempts, s.worst_case_s, s.starts_by_s) for s in plan.steps]
    assert rows == [
        ("log", 1, 0.0, 0.0),
        ("endpoint-race", 1, 5.0, 0.0),
        ("notify", 3, 3 * 2.0 + 1.0 + 2.0, 5.0),  # attempts x attempt_timeout + nominal backoff
        ("quit", 1, 3.0, 14.0),
        ("gone", None, 10.0, 17.0),  # polling: as many checks as fit
    ]
    assert plan.worst_case_s == 27.0 and not plan.fits
    assert plan.warnings == ("worst case 27s exceeds the budget 25s: gone may be cut or skipped",)


def test_the_json_document_has_the_documented_fields(config: Callable[[str], Path]) -> None:
    doc = build_plan(load(str(config(NGINXISH)), {}), "prestop").to_json()
    json.dumps(doc)
    assert doc["format"] == 1 and doc["hook"] == "prestop" and doc["fits"] is False
    assert {"budget_s", "worst_case_s", "steps", "warnings"} <= set(doc)
    step = doc["steps"][2]
    assert {k: step[k] for k in ("name", "action", "describe", "timeout_s", "attempts",
                                 "worst_case_s", "starts_by_s", "on_failure", "once",
                                 "skip_reason")} == {
        "name": "notify", "action": "exec", "describe": "run curl -X POST http://127.0.0.1/x",
        "timeout_s": None, "attempts": 3, "worst_case_s": 9.0, "starts_by_s": 5.0,
        "on_failure": "continue", "once": False, "skip_reason": None}


def test_a_step_without_any_bound_takes_the_rest_of_the_budget(config: Callable[[str], Path]) -> None:
    path = config("""
        [poststart]
        timeout = "20s"
        [[poststart.steps]]
        name = "nap"
        sleep = "4s"
        [[poststart.steps]]
        name = "migrate"
        exec = ["migrate"]
        [[poststart.steps]]
        name = "after"
        exec = ["true"]
        timeout = "1s"
    """)
    plan = build_plan(load(str(path), {}), "poststart")
    migrate = plan.steps[1]
    assert migrate.unbounded and migrate.worst_case_s == 16.0 and migrate.starts_by_s == 4.0
    assert plan.steps[2].starts_by_s == 20.0 and not plan.fits
    assert plan.budget_from == "poststart.timeout 20s"
    assert any("migrate has no timeout" in w for w in plan.warnings)
    assert "migrate" in render_plan(plan) and "DOES NOT FIT" in render_plan(plan)


def test_done_steps_are_skipped_in_the_plan(config: Callable[[str], Path]) -> None:
    plan = build_plan(load(str(config(NGINXISH)), {}), "prestop", done={"endpoint-race": "done before"})
    race = plan.steps[1]
    assert race.skip_reason == "done before" and race.worst_case_s == 0.0
    assert plan.fits and plan.worst_case_s == 22.0


def test_default_budgets(config: Callable[[str], Path]) -> None:
    path = config("""
        [settings]
        grace_period = "10s"
        shutdown_reserve = "2s"
        [poststart]
        [[poststart.steps]]
        name = "a"
        sleep = "1s"
        [custom]
        [[custom.steps]]
        name = "a"
        sleep = "1s"
        [prestop]
        timeout = "40s"
        [[prestop.steps]]
        name = "a"
        sleep = "1s"
    """)
    cfg = load(str(path), {})
    assert build_plan(cfg, "poststart").budget_s == 60.0
    assert build_plan(cfg, "custom").budget_s == 60.0
    prestop = build_plan(cfg, "prestop")
    assert prestop.budget_s == 40.0
    assert any("kubelet sends SIGTERM at 10s regardless" in w for w in prestop.warnings)


def test_a_grace_period_that_leaves_no_budget_is_a_config_error(config: Callable[[str], Path]) -> None:
    path = config("""
        [settings]
        grace_period = "5s"
        shutdown_reserve = "5s"
        [prestop]
        [[prestop.steps]]
        name = "a"
        sleep = "1s"
    """)
    with pytest.raises(ConfigError) as err:
        build_plan(load(str(path), {}), "prestop")
    assert "leaves no time for prestop" in str(err.value.problems[0])


FALLBACK = """
    [settings]
    grace_period = "30s"
    shutdown_reserve = "5s"
    [prestop]
    [[prestop.steps]]
    name = "race"
    sleep = "10s"
    on_failure = "ignore"
    [[prestop.steps]]
    name = "after-race"
    needs = ["race"]
    sleep = "4s"
    [[prestop.steps]]
    name = "instead"
    unless = ["race"]
    sleep = "9s"
    [[prestop.steps]]
    name = "quit"
    sleep = "1s"
    reserve = "3s"
"""


def test_a_fallback_and_the_steps_it_replaces_never_both_count(config: Callable[[str], Path]) -> None:
    """`instead` runs only if race did not succeed, `after-race` only if it did: the worst case
    is the longer of the two ways (10 + 9 + 1), not their sum (10 + 4 + 9 + 1)."""
    plan = build_plan(load(str(config(FALLBACK)), {}), "prestop")
    rows = [(s.name, s.worst_case_s, s.starts_by_s) for s in plan.steps]
    assert rows == [("race", 10.0, 0.0), ("after-race", 4.0, 10.0), ("instead", 9.0, 10.0), ("quit", 1.0, 19.0)]
    assert plan.worst_case_s == 20.0 and plan.fits
    assert plan.warnings == ()  # 10 + 9 leaves quit its 3 s: nothing is cut
    # the same steps without the condition: both run, and the sum is cut by quit's reserve
    plain = build_plan(load(str(config(FALLBACK.replace('unless = ["race"]', ""))), {}), "prestop")
    assert [s.worst_case_s for s in plain.steps] == [10.0, 4.0, 8.0, 1.0]
    assert plain.worst_case_s == 23.0
    assert plain.warnings == ("instead may be cut at 22s to leave 3s for quit",)
