"""Config errors: every problem reported, with its location and a hint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hookrun.cli.commands import render_problems
from hookrun.engine.plan import read_config as load
from hookrun.errors import ConfigError

ENV = {"HOSTNAME": "pod-1"}


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(str(path), ENV if env is None else env)
    return [str(p) for p in err.value.problems]


def test_a_valid_config_loads_with_defaults(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "quit"
        exec = ["nginx", "-s", "quit"]
        [poststart]
        [[poststart.steps]]
        name = "nap"
        sleep = "1s"
    """)
    cfg = load(str(path), ENV)
    assert cfg.settings.grace_period == 30.0 and cfg.settings.shutdown_reserve == 5.0
    assert cfg.hooks["prestop"].on_failure == "continue"
    assert cfg.hooks["poststart"].on_failure == "abort"
    step = cfg.hooks["prestop"].steps[0]
    assert (step.action, step.retries, step.retry_delay, step.backoff) == ("exec", None, 1.0, "fixed")


def test_unknown_key_names_file_step_and_key_with_a_suggestion(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "deregister"
        exec = ["true"]
        [[prestop.steps]]
        name = "drain"
        sleep = "1s"
        timout = "15s"
    """)
    with pytest.raises(ConfigError) as err:
        load(str(path), ENV)
    assert render_problems(err.value) == (
        f"hookrun: invalid config {path}\n"
        '  at prestop.steps[2] (name = "drain"), key "timout": unknown key (did you mean "timeout"?)'
    )


def test_every_problem_is_listed_not_only_the_first(config: Callable[[str], Path]) -> None:
    path = config("""
        [settings]
        grace_period = "30x"
        [prestop]
        on_failure = "contineu"
        [[prestop.steps]]
        name = "a"
        exec = ["x"]
        sleep = "1s"
        [[prestop.steps]]
        name = "b"
        sleep = "1s"
        [[prestop.steps]]
        name = "b"
        sleep = "2s"
        [[prestop.steps]]
        name = "Bad Name"
        sleep = "1s"
        [[prestop.steps]]
        exec = []
        retries = -1
        once = "yes"
    """)
    assert problems(path) == [
        'at settings, key "grace_period": expected a duration like "250ms", "2s" or "1m30s", got \'30x\'',
        'at prestop, key "on_failure": expected one of "abort", "continue", "ignore", got \'contineu\''
        ' (did you mean "continue"?)',
        'at prestop.steps[1] (name = "a"): more than one action (exec, sleep): use one step per action',
        'at prestop.steps[3] (name = "b"), key "name": duplicate step name "b" '
        "(step names must be unique within a hook)",
        'at prestop.steps[4] (name = "Bad Name"), key "name": \'Bad Name\': use lowercase letters,'
        ' digits, - and _ (like "quit-nginx")',
        'at prestop.steps[5]: missing key "name" (e.g. name = "drain")',
        'at prestop.steps[5], key "retries": expected a number from 0 to 10000, got -1',
        'at prestop.steps[5], key "once": expected true, false, "container" or "pod", got \'yes\'',
        'at prestop.steps[5], key "exec": expected a non-empty list like ["nginx", "-s", "quit"]',
    ]


def test_unset_template_variable_names_variable_and_step(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "say"
        exec = ["echo", "${POD_NAME}", "${ZONE:-none}", "$${LITERAL}"]
    """)
    assert problems(path) == [
        'at prestop.steps[1] (name = "say"), key "exec": variable ${POD_NAME} is not set '
        "(set it in the container's env, or give a default: ${POD_NAME:-value})"
    ]
    cfg = load(str(path), {"POD_NAME": "web-0"})
    assert cfg.hooks["prestop"].steps[0].spec.argv == ("echo", "web-0", "none", "${LITERAL}")


def test_hookrun_variables_are_known_at_load_time(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "log"
        write = { path = "/tmp/x", text = "${HOOKRUN_HOOK} ${HOOKRUN_STEP} ${HOOKRUN_TIME} ${HOOKRUN_DEADLINE}" }
    """)
    load(str(path), {})


def test_syntax_errors_report_line_and_column(config: Callable[[str], Path]) -> None:
    path = config('[prestop]\nx = "unterminated\n')
    assert problems(path) == ["TOML syntax error: line 2, column 18: Illegal character '\\n'"]


def test_missing_file_and_bad_bytes(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.toml") == [
        "file not found (give the path with --config or HOOKRUN_CONFIG)"]
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert problems(binary) == ["not UTF-8 text (byte 0)"]
    # a directory means DIR/hookrun.toml (a ConfigMap volume)
    assert problems(tmp_path) == ["file not found (give the path with --config or HOOKRUN_CONFIG)"]


def test_top_level_values_and_bad_hook_shapes(config: Callable[[str], Path]) -> None:
    path = config("""
        shutdown_reserve = "5s"
        prestop = 3
        [poststart]
        steps = 3
        [other]
        timeout = "5s"
    """)
    assert problems(path) == [
        'key "shutdown_reserve": a top-level key must be a hook table like [shutdown_reserve] '
        "(put it under [settings])",
        'key "prestop": a top-level key must be a hook table like [prestop]',
        'at poststart, key "steps": must be an array of tables: [[poststart.steps]]',
        "at other: hook has no steps (add [[other.steps]] tables)",
    ]


@pytest.mark.parametrize("action, value, message", [
    ("exec", '{ commnd = ["x"] }', 'key "commnd": unknown key (did you mean "command"?)'),
    ("exec", '{ command = ["x"], ok_exit_codes = [] }', 'key "ok_exit_codes": must list at least one'),
    ("exec", '"nginx -s quit"', 'expected a list like ["nginx", "-s", "quit"] or a table'),
    ("shell", '""', "the script is empty"),
    ("shell", "{ shell = \"/bin/bash\" }", 'missing key "script"'),
    ("sleep", '"forever"', "expected a duration"),
    ("write", '{ path = "/x" }', 'missing key "text"'),
    ("write", '{ path = "/x", text = "", mode = "999" }', "expected an octal mode"),
    ("wait_file", '{ path = "/x", state = "gone" }', 'expected one of "exists", "absent"'),
    # host names the resolver cannot be asked for: a clear config error, not a crash when connecting
    ("tcp", '{ host = "' + "a" * 64 + '", port = 80 }', "(each dot-separated label must be 1 to 63 characters)"),
    ("tcp", '{ host = "a..b", port = 80 }', "not a usable host name: 'a..b' (each dot-separated label"),
    ("tcp", '{ host = "::1::2", port = 80 }', "not a usable IPv6 address: '::1::2'"),
    ("tcp", '{ host = "a b", port = 80 }', "not a usable host name: 'a b'"),
    ("tcp", '{ host = "' + ".".join(["a" * 60] * 5) + '", port = 80 }', "label must be 1 to 63"),  # 304 > 253
    ("tcp", '{ host = "b\u00fccher.example", port = 80 }', None),  # international names: IDNA
    ("tcp", '{ host = "localhost.", port = 80 }', None),
    ("http", '{ url = "http://' + "a" * 70 + '/" }', "label must be 1 to 63 characters), in 'http://aaa"),
])
def test_action_schemas(config: Callable[[str], Path], action: str, value: str,
                        message: str | None) -> None:
    path = config(f"""
        [prestop]
        [[prestop.steps]]
        name = "s"
        {action} = {value}
    """)
    try:
        load(str(path), ENV)
    except ConfigError as err:
        text = "\n".join(str(p) for p in err.problems)
        assert text.startswith('at prestop.steps[1] (name = "s")'), text
        if message is not None:
            assert message in text
    else:
        assert message is None


def test_step_options(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "s"
        exec = { command = ["x"], env = { A = "1" }, cwd = "/tmp", ok_exit_codes = [0, 3] }
        timeout = "3s"
        attempt_timeout = "500ms"
        retries = 4
        retry_delay = "250ms"
        backoff = "exponential"
        max_retry_delay = "2s"
        on_failure = "ignore"
        once = "pod"
        always = true
    """)
    step = load(str(path), ENV).hooks["prestop"].steps[0]
    assert (step.timeout, step.attempt_timeout, step.retries, step.retry_delay) == (3.0, 0.5, 4, 0.25)
    assert (step.backoff, step.max_retry_delay, step.on_failure, step.once, step.always) == (
        "exponential", 2.0, "ignore", "pod", True)
    assert step.spec.env == (("A", "1"),) and step.spec.cwd == "/tmp" and step.spec.ok_exit_codes == (0, 3)


def test_needs_names_earlier_steps_only(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "quit"
        exec = ["true"]
        needs = ["quit"]
        [[prestop.steps]]
        name = "wait-exit"
        exec = ["true"]
        needs = ["quit", "qiut", "later"]
        [[prestop.steps]]
        name = "later"
        exec = ["true"]
        reserve = "2s"
        needs = "quit"
    """)
    assert problems(path) == [
        'at prestop.steps[3] (name = "later"), key "needs": expected a list of strings, '
        "got a string ('quit')",
        'at prestop.steps[1] (name = "quit"), key "needs": "quit" is this step: a step cannot need itself',
        'at prestop.steps[2] (name = "wait-exit"), key "needs": no step "qiut" before this one '
        '(did you mean "quit"?)',
        'at prestop.steps[2] (name = "wait-exit"), key "needs": "later" comes after this step: '
        "needs names earlier steps (steps run in order)",
    ]


def test_reserve_and_needs_load(config: Callable[[str], Path]) -> None:
    path = config("""
        [prestop]
        [[prestop.steps]]
        name = "quit"
        exec = ["true"]
        reserve = "1.5s"
        [[prestop.steps]]
        name = "wait-exit"
        exec = ["true"]
        needs = ["quit"]
    """)
    quit_, wait = load(str(path), ENV).hooks["prestop"].steps
    assert (quit_.reserve, quit_.needs, wait.reserve, wait.needs) == (1.5, (), 0.0, ("quit",))
