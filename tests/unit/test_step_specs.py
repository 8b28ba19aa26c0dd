"""Parsing and describing the network and process actions: pure, no I/O."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from hookrun.config.schema import Where
from hookrun.errors import Problem
from hookrun.steps import registry
from hookrun.steps.http import redact, retry_after_seconds


def parse(action: str, value: object) -> tuple[object, list[str]]:
    problems: list[Problem] = []
    spec = registry()[action].parse(value, Where('prestop.steps[1] (name = "x")', action, problems))
    return spec, [str(p) for p in problems]


def describe(action: str, value: object) -> str:
    spec, problems = parse(action, value)
    assert not problems
    return registry()[action].describe(spec)


@pytest.mark.parametrize(("action", "value", "message"), [
    ("signal", {"signal": "QUIT"}, "no target: give exactly one of pid, pidfile, process, cmdline"),
    ("signal", {"pid": 3, "process": "x"}, "more than one target (pid, process)"),
    ("signal", {"process": "x", "signal": "NOPE"}, "unknown signal 'NOPE'"),
    ("signal", {"process": "x", "al": True}, 'unknown key (did you mean "all"?)'),
    ("wait_exit", {"cmdline": "nginx("}, 'key "cmdline": not a valid regular expression'),
    ("wait_exit", {"pid": 0}, "expected a number from 1 to 4194304, got 0"),
    ("wait_exit", "nginx", 'expected a table like { process = "nginx" }'),
    ("http", {"url": "ftp://x/"}, "expected an http:// or https:// URL with a host"),
    ("http", {"url": "http://x/", "body": "a", "json": {}}, 'give "body" or "json", not both'),
    ("http", {"url": "http://x/", "expect_status": "2xx"}, 'expected a status like 200, a range'),
    ("http", {"url": "http://x/", "method": "GE T"}, 'expected an HTTP method like "POST"'),
    ("http", {"method": "GET"}, 'missing key "url"'),
])
def test_problems_say_where_and_what(action: str, value: object, message: str) -> None:
    spec, problems = parse(action, value)
    assert spec is None
    assert any(message in p for p in problems), problems
    assert all(p.startswith('at prestop.steps[1] (name = "x")') for p in problems)


def test_descriptions() -> None:
    assert describe("signal", {"pidfile": "/run/nginx.pid", "signal": "QUIT"}) == \
        "send SIGQUIT to the pid in /run/nginx.pid"
    assert describe("signal", {"process": "gunicorn", "signal": 1, "all": False}) == \
        "send SIGHUP to the oldest of processes named gunicorn"
    assert describe("wait_exit", {"pid": "1"}) == "wait for pid 1 to exit"
    assert describe("http", {"url": "https://u:pw@h:8443/p?q=1", "method": "post", "json": {"a": 1},
                             "headers": {"Authorization": "Bearer t0ken"}, "expect_status": [200, "400-404"],
                             "tls_verify": False}) == \
        ("POST https://u:***@h:8443/p?q=1 (headers Authorization; a JSON body of 7 bytes; "
         "expect 200, 400-404; TLS not verified)")


def test_redact_keeps_everything_but_the_password() -> None:
    assert redact("http://user:p%40ss@host:80/a?b=c#d") == "http://user:***@host:80/a?b=c#d"
    assert redact("http://host/") == "http://host/"


def test_retry_after() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
