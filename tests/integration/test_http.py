"""The http step against real scripted HTTP servers, through the real CLI."""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import subprocess
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from time import time

import pytest
from conftest import write_config
from support.cli import Run, run_hookrun
from support.servers import ScriptedServer

Start = Callable[..., ScriptedServer]


def one_step(tmp_path: Path, http: str, extra: str = "", hook_timeout: str = "20s") -> Path:
    return write_config(tmp_path, f'''
[run]
timeout = "{hook_timeout}"
[[run.steps]]
name = "call"
http = {http}
{extra}
''')


def gaps(server: ScriptedServer) -> list[float]:
    times = [r.at for r in server.requests]
    return [b - a for a, b in itertools.pairwise(times)]


def test_fails_then_succeeds(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("status", 503), ("close",), ("status", 204))
    config = one_step(tmp_path, f'{{ url = "{server.url}/health" }}',
                      'retries = 5\nretry_delay = "100ms"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert len(server.requests) == 3
    assert f"attempt 1 failed: HTTP 503 from GET {server.url}/health; retrying in 100ms" in result.out
    assert "attempt 2 failed: GET" in result.out
    assert f"call: ok: HTTP 204 from GET {server.url}/health" in result.out


def test_client_error_fails_at_once_naming_method_status_url(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("status", 404))
    config = one_step(tmp_path, f'{{ method = "POST", url = "{server.url}/drain" }}', "retries = 3")
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert len(server.requests) == 1
    assert (f"call: failed: HTTP 404 from POST {server.url}/drain "
            "(not retried: client error; check the url)") in result.out


def test_expected_status_and_redirects(tmp_path: Path, http_server: Start) -> None:
    final = http_server(("status", 200))
    moved = http_server(("status", 302, {"Location": f"{final.url}/here"}))
    config = write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "gone-is-fine"
http = {{ url = "{final.url}/x", expect_status = [200, "400-404"] }}
[[run.steps]]
name = "no-follow"
http = {{ url = "{moved.url}/old" }}
[[run.steps]]
name = "follow"
http = {{ url = "{moved.url}/old", follow_redirects = true }}
''')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert "gone-is-fine: ok: HTTP 200" in result.out
    assert (f"no-follow: failed: HTTP 302 from GET {moved.url}/old (not retried: redirect to "
            f"{final.url}/here; set follow_redirects = true or use the final url)") in result.out
    assert f"follow: ok: HTTP 200 from GET {moved.url}/old" in result.out
    assert [r.path for r in final.requests] == ["/x", "/here"]


def test_retry_after_seconds_is_honoured(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("status", 503, {"Retry-After": "1"}), ("status", 200))
    config = one_step(tmp_path, f'{{ url = "{server.url}/" }}', 'retries = 2\nretry_delay = "10ms"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert "HTTP 503 from GET" in result.out and "(Retry-After 1s); retrying in 1s" in result.out
    assert 0.95 <= gaps(server)[0] <= 2.0


def test_retry_after_http_date_is_honoured(tmp_path: Path, http_server: Start) -> None:
    when = formatdate(time() + 3, usegmt=True)  # one-second resolution: 2 to 3 s from now
    server = http_server(("status", 429, {"Retry-After": when}), ("status", 200))
    config = one_step(tmp_path, f'{{ url = "{server.url}/" }}', 'retries = 2\nretry_delay = "10ms"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert 1.5 <= gaps(server)[0] <= 3.5, result.out


def test_retry_after_past_the_deadline_gives_up_now(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("status", 503, {"Retry-After": "30"}))
    config = one_step(tmp_path, f'{{ url = "{server.url}/" }}', 'retries = 5\ntimeout = "3s"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert len(server.requests) == 1
    assert "no time for another attempt before the step deadline" in result.out
    assert result.seconds < 2.5


@pytest.mark.parametrize("action", [("hang",), ("silent",), ("trickle", 0.05)])
def test_every_attempt_is_bounded(tmp_path: Path, http_server: Start, action: tuple[object, ...]) -> None:
    server = http_server(action)
    config = one_step(tmp_path, f'{{ url = "{server.url}/" }}',
                      'timeout = "2s"\nattempt_timeout = "600ms"\nretries = 1\nretry_delay = "100ms"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert "attempt 1 failed: no complete response from GET" in result.out
    assert "within 600ms; retrying in 100ms" in result.out
    assert 1.3 <= result.seconds <= 2.5, result.out


def test_hook_deadline_cuts_a_hanging_request(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("hang",))
    config = one_step(tmp_path, f'{{ url = "{server.url}/" }}', hook_timeout="1s")
    result = run_hookrun(config, "run", "run")
    assert result.code == 124, result.out
    assert "the hook's budget ran out" in result.out
    assert 0.9 <= result.seconds <= 1.6


def test_connection_refused_is_retried(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        config = one_step(tmp_path, f'{{ url = "http://127.0.0.1:{port}/" }}',
                          'retries = 2\nretry_delay = "50ms"')
        result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert result.out.count("connection refused") == 3
    assert "(no retries left, 3 attempts)" in result.out


def test_json_body_headers_and_method_arrive(tmp_path: Path, http_server: Start) -> None:
    server = http_server(("status", 200))
    config = one_step(tmp_path, f'{{ method = "post", url = "{server.url}/prestop", '
                      'json = { pod = "${HOSTNAME:-web-1}", n = 2 }, headers = { X-Req = "1" } }')
    result = run_hookrun(config, "run", "run", env={"HOSTNAME": "web-7"})
    assert result.code == 0, result.out
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/prestop")
    assert json.loads(request.body) == {"pod": "web-7", "n": 2}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-req"] == "1"


SECRETS = ("pw-s3cret-in-url", "Bearer hdr-s3cret-value", "body-s3cret-text", "json-s3cret-token")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(tmp_path: Path, http_server: Start, fmt: str) -> None:
    server = http_server(("status", 500), ("close",), ("status", 401))
    auth = server.url.replace("http://", f"http://ops:{SECRETS[0]}@")
    config = write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "raw"
retries = 2
retry_delay = "10ms"
[run.steps.http]
method = "PUT"
url = "{auth}/a?x=1"
headers = {{ X-Token = "{SECRETS[1]}" }}
body = "{SECRETS[2]}"
[[run.steps]]
name = "js"
[run.steps.http]
method = "POST"
url = "{auth}/b"
json = {{ token = "{SECRETS[3]}" }}
headers = {{ X-Token = "{SECRETS[1]}" }}
[[run.steps]]
name = "bad-header"
http = {{ url = "{auth}/c", headers = {{ X-Broken = "{SECRETS[1]}\\n" }} }}
''')
    runs: list[Run] = [run_hookrun(config, "run", "run", "-v", env={"HOOKRUN_LOG_FORMAT": fmt}),
                       run_hookrun(config, "plan", "run", "--format", fmt),
                       run_hookrun(config, "validate")]
    assert runs[0].code == 1 and runs[1].code == 0 and runs[2].code == 0, runs
    out = "".join(run.out for run in runs)
    assert "ops:***@127.0.0.1" in out and "headers X-Token" in out
    assert "raw: failed: HTTP 401 from PUT" in out or '"step": "raw", "event": "failed"' in out
    assert "the request cannot be sent" in out  # the broken header was refused, not logged
    for secret in SECRETS:
        assert secret not in out
        assert secret.split("-")[1] not in out  # no fragment of it either
    sent = b"".join(r.body + json.dumps(r.headers).encode() for r in server.requests)
    assert [s for s in SECRETS[1:] if s.encode() not in sent] == [], server.requests  # really sent
    assert server.requests[0].headers["x-token"] == SECRETS[1]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_verify_and_ca_file(tmp_path: Path, http_server: Start, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http_server(("status", 200), tls=context)
    config = write_config(tmp_path, f'''
[run]
on_failure = "continue"
[[run.steps]]
name = "untrusted"
http = {{ url = "{server.url}/" }}
retries = 3
[[run.steps]]
name = "with-ca"
http = {{ url = "{server.url}/", ca_file = "{cert}" }}
[[run.steps]]
name = "unverified"
http = {{ url = "{server.url}/", tls_verify = false }}
''')
    result = run_hookrun(config, "run", "run")
    assert result.code == 1, result.out
    assert ("untrusted: failed: GET https://127.0.0.1:"
            in result.out and "TLS certificate not trusted (set ca_file, or tls_verify = false) "
            "(not retried)" in result.out)
    assert "with-ca: ok: HTTP 200" in result.out
    assert "unverified: ok: HTTP 200" in result.out
    assert "TLS not verified" in result.out


def test_body_checks_retry_until_the_body_shows_it(tmp_path: Path, http_server: Start) -> None:
    """A health endpoint that answers 200 before it is ready: expect_body keeps retrying."""
    starting = ("status", 200, {"Content-Type": "application/json"}, b'{"status": {"phase": "Starting"}}')
    ready = ("status", 200, {"Content-Type": "application/json"},
             b'{"status": {"phase": "Ready", "checks": [{"name": "db", "ok": true}]}}')
    server = http_server(starting, ("status", 200, {}, b"<html>not json</html>"), ready)
    config = one_step(tmp_path, f'{{ url = "{server.url}/health", expect_body = '
                      '{ json = "status.phase", equals = "Ready" } }', 'retries = 5\nretry_delay = "50ms"')
    result = run_hookrun(config, "run", "run")
    assert result.code == 0, result.out
    assert len(server.requests) == 3
    assert (f'attempt 1 failed: HTTP 200 from GET {server.url}/health, but the body\'s status.phase is '
            '"Starting", expected "Ready"; retrying in 50ms') in result.out
    assert "attempt 2 failed: HTTP 200 from GET" in result.out and "but the body is not JSON" in result.out
    assert f'call: ok: HTTP 200 from GET {server.url}/health, body status.phase = "Ready"' in result.out


@pytest.mark.parametrize(("check", "body", "verdict"), [
    ('{ json = "status.checks[0].ok", equals = true }', b'{"status": {"checks": [{"ok": true}]}}', "ok"),
    ('{ json = "$.status.checks[1]", absent = true }', b'{"status": {"checks": [{"ok": true}]}}', "ok"),
    ('{ json = "error", absent = true }', b'{"error": "disk full"}', 'the body has error = "disk full"'),
    ('{ json = "items", equals = [1, 2] }', b'{"items": [1, 2]}', "ok"),
    ('{ json = "items", equals = [1, 2] }', b'{"items": [2, 1]}', "the body's items is [2, 1], expected [1,2]"),
    ('{ regex = "^OK( |$)" }', b"OK all good", "ok"),
    ('{ regex = "^OK( |$)" }', b"NOT OK", "the body does not match /^OK( |$)/"),
])
def test_body_check_verdicts(tmp_path: Path, http_server: Start, check: str, body: bytes, verdict: str) -> None:
    server = http_server(("status", 200, {}, body))
    config = one_step(tmp_path, f'{{ url = "{server.url}/", expect_body = {check} }}')
    result = run_hookrun(config, "run", "run")
    if verdict == "ok":
        assert result.code == 0, result.out
    else:
        assert result.code == 1, result.out
        assert f"HTTP 200 from GET {server.url}/, but {verdict}" in result.out


@pytest.mark.parametrize(("check", "message"), [
    ('{ json = "a", regex = "b" }', 'give "json" (a path into a JSON body) or "regex", one of them'),
    ('{ json = "a" }', 'with "json", give "equals" (the value expected there) or absent = true'),
    ('{ json = "a..b", equals = 1 }', "json 'a..b': expected a path like status.items[0].name"),
    ('{ regex = "(" }', "regex '(': missing ), unterminated subpattern at position 0"),
    ('{ regex = "x", equals = 1 }', '"equals" and "absent" go with "json", not "regex"'),
    ('{ jsn = "a" }', "unknown key 'jsn' (json, equals, absent, regex)"),
])
def test_body_check_config_errors_say_what(tmp_path: Path, check: str, message: str) -> None:
    config = one_step(tmp_path, f'{{ url = "http://127.0.0.1:1/", expect_body = {check} }}')
    result = run_hookrun(config, "validate")
    assert result.code == 2, result.out
    assert message in result.out, result.out
