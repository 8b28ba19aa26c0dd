"""Secrets never reach output: masked environment values, URL passwords of any shape, proxies
chosen by curl's rules (no Authorization to an HTTP_PROXY), no step header across origins."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import write_config
from support.cli import run_hookrun
from support.servers import ScriptedServer

from hookrun.steps.proxy import bypassed, proxy_for

Start = Callable[..., ScriptedServer]
SECRET = "hunter2-s3cr3t"


def test_secret_env_values_are_masked_everywhere(tmp_path: Path) -> None:
    term = tmp_path / "termination-log"
    config = write_config(tmp_path, f'''
[settings]
secret_env = ["MY_*"]
termination_message = true
termination_message_path = "{term}"
[prestop]
timeout = "5s"
[[prestop.steps]]
name = "say"
exec = ["echo", "db ${{DB_PASSWORD}} mine ${{MY_VALUE}} short ${{SHORT_TOKEN}}"]
[[prestop.steps]]
name = "fail"
exec = ["sh", "-c", "echo $DB_PASSWORD >&2; exit 3"]
[[prestop.steps]]
name = "call"
http = {{ url = "http://127.0.0.1:1/${{MY_VALUE}}" }}
on_failure = "ignore"
''')
    env = {"DB_PASSWORD": SECRET, "MY_VALUE": "value-of-mine", "SHORT_TOKEN": "abc"}
    run = run_hookrun(config, "prestop", env=env)
    assert run.code == 1, run.out
    assert SECRET not in run.out and "value-of-mine" not in run.out
    assert "say: | db *** mine *** short abc" in run.out  # shorter than 4 characters: not masked
    assert "fail: | ***" in run.out
    message = term.read_text()
    assert SECRET not in message and "value-of-mine" not in message and "***" in message
    plan = run_hookrun(config, "plan", "prestop", env=env)
    assert plan.code == 0 and SECRET not in plan.out and "run echo db *** mine ***" in plan.out
    as_json = run_hookrun(config, "prestop", "--dry-run", "--format", "json", env=env)
    assert SECRET not in as_json.out and json.loads(as_json.out)["hook"] == "prestop"


def test_config_errors_do_not_quote_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path, '''
[prestop]
[[prestop.steps]]
name = "nap"
sleep = "${API_TOKEN}"
[[prestop.steps]]
name = "call"
http = { url = "http://svc:pa/ss#w0rd@127.0.0.1:1/" }
[[prestop.steps]]
name = "call2"
http = { url = "http://svc:open@127.0.0.1:99999/" }
''')
    run = run_hookrun(config, "validate", env={"API_TOKEN": "tok-123456"})
    assert run.code == 2, run.out
    assert "tok-123456" not in run.out and "sleep\": expected a duration" in run.out.replace("key ", "")
    assert "pa/ss" not in run.out and "w0rd" not in run.out and "open" not in run.out
    assert "http://svc:***@127.0.0.1:1/" in run.out and "percent-encode" in run.out


def test_uppercase_http_proxy_is_ignored_as_curl_does(tmp_path: Path, http_server: Start) -> None:
    proxy, target = http_server(("status", 200)), http_server(("status", 204))
    config = write_config(tmp_path, f'''
[run]
[[run.steps]]
name = "call"
http = {{ url = "{target.url}/x", headers = {{ Authorization = "Bearer {SECRET}" }} }}
''')
    run = run_hookrun(config, "run", "run", env={"HTTP_PROXY": proxy.url})
    assert run.code == 0, run.out
    assert proxy.requests == [] and target.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    lower = run_hookrun(config, "run", "run", env={"http_proxy": proxy.url})
    assert lower.code == 0, lower.out
    assert [r.path for r in proxy.requests] == [f"{target.url}/x"]  # absolute form: to the proxy
    direct = run_hookrun(config, "run", "run", env={"http_proxy": proxy.url, "no_proxy": "127.0.0.1"})
    assert direct.code == 0 and len(proxy.requests) == 1 and len(target.requests) == 2


def test_a_redirect_to_another_origin_drops_the_steps_headers(tmp_path: Path, http_server: Start) -> None:
    final = http_server(("status", 200))
    moved = http_server(("status", 302, {"Location": f"{final.url}/here"}))
    config = write_config(tmp_path, f'''
[run]
[[run.steps]]
name = "call"
http = {{ url = "{moved.url}/old", follow_redirects = true, headers = {{ X-Api-Key = "{SECRET}", Authorization = "Basic {SECRET}" }} }}
''')
    run = run_hookrun(config, "run", "run")
    assert run.code == 0, run.out
    assert moved.requests[0].headers["x-api-key"] == SECRET
    assert "x-api-key" not in final.requests[0].headers
    assert "authorization" not in final.requests[0].headers


def test_curl_proxy_rules() -> None:
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1", "HTTPS_PROXY": "http://s:1",
           "ALL_PROXY": "socks5://all:1", "NO_PROXY": ".internal,127.64.0.0/10,::1"}
    assert proxy_for("http", "example.org", env) == "http://lower:1"
    assert proxy_for("http", "example.org", {"HTTP_PROXY": "http://upper:1"}) is None
    assert proxy_for("https", "example.org", env) == "http://s:1"
    assert proxy_for("https", "example.org", {"ALL_PROXY": "all:3128"}) == "http://all:3128"
    assert proxy_for("https", "api.internal", env) is None
    assert proxy_for("https", "127.65.2.3", env) is None and proxy_for("https", "[::1]", env) is None
    assert bypassed("a.b.example.org", "example.org") and bypassed("example.org", ".example.org")
    assert not bypassed("badexample.org", "example.org") and bypassed("anything", " * ")
    assert not bypassed("127.0.0.1", "127.0.0.2,example.org")


def test_file_templates_are_read_at_each_attempt_and_masked(tmp_path: Path, http_server: Start) -> None:
    """${file:PATH}: a token a Secret mounts. Read at every attempt (a rotated token is used by
    the next one), never shown: not in plan (***), not in logs, not in command output."""
    token = tmp_path / "token"
    token.write_text("first-token-4f9a\n")
    server = http_server(("status", 503), ("status", 204))
    rotate = tmp_path / "rotate.sh"
    rotate.write_text(f"#!/bin/sh\nprintf 'second-token-77c1\\n' > {token}\n")
    rotate.chmod(0o755)
    config = write_config(tmp_path, f'''
[run]
[[run.steps]]
name = "show"
exec = ["/bin/echo", "the token is ${{file:{token}}}"]
[[run.steps]]
name = "rotate"
exec = ["{rotate}"]
[[run.steps]]
name = "call"
http = {{ url = "{server.url}/", headers = {{ Authorization = "Bearer ${{file:{token}}}" }} }}
retries = 2
retry_delay = "10ms"
''')
    plan = run_hookrun(config, "plan", "run")
    assert plan.code == 0, plan.out
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert [r.headers.get("authorization") for r in server.requests] == ["Bearer second-token-77c1"] * 2
    assert "the token is ***" in result.out
    for text in (plan.out, result.out):
        assert "first-token" not in text and "second-token" not in text, text


def test_file_templates_that_cannot_be_read_fail_the_step_saying_why(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    config = write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "missing"
exec = ["/bin/echo", "${{file:{tmp_path}/nope}}"]
[[run.steps]]
name = "large"
exec = ["/bin/echo", "${{file:{big}}}"]
''')
    assert run_hookrun(config, "validate").code == 0  # the files are read when the step runs
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert (f"missing: failed: the step's values do not expand: ${{file:{tmp_path}/nope}}: cannot read it: "
            "No such file or directory") in result.out
    assert f"large: failed: the step's values do not expand: ${{file:{big}}}: larger than 64 KiB" in result.out
