"""http: one request; the status decides (SPEC 2.2). httpx is imported only when a request runs.

Retried: connection errors, timeouts, 429 and 5xx (Retry-After honoured by the executor inside
the budget), and an expected status whose body does not show what `expect_body` asks (a JSON
value at a path equal to a value, or absent; or a regex found in the text): a health endpoint
that answers 200 {"status": "starting"} is not done yet. Any other unexpected status fails at
once. Header values, request bodies and URL passwords never appear in describe() or in any
outcome detail; of the response body, only the value at the path is quoted, shortened.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from hookrun.config.schema import Where, as_bool, as_nonempty_str, as_str, as_str_map, host_problem
from hookrun.config.values import format_duration
from hookrun.errors import NoAnswer, Overrun, ValueProblem
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, ok, retry, timeout
from hookrun.steps.proxy import proxy_for
from hookrun.system.bounded import call_within

if TYPE_CHECKING:
    import ssl

    import httpx

DEFAULT_EXPECT = ((200, 299),)
_METHOD = re.compile(r"[A-Z]+")
_RANGE = re.compile(r"([1-5][0-9][0-9])(?:\s*-\s*([1-5][0-9][0-9]))?")


@record
class Http:
    """The http action."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    json_body: bool = False
    expect: tuple[tuple[int, int], ...] = DEFAULT_EXPECT
    tls_verify: bool = True
    ca_file: str | None = None
    follow_redirects: bool = False
    expect_body: BodyCheck | None = None

    def secrets(self) -> list[str]:
        """Everything that must never be logged: header values, the body, the URL password."""
        found = [value for _, value in self.headers]
        if self.body:
            found.append(self.body.decode("utf-8", "replace"))
        password = urlsplit(self.url).password
        if password:
            found.append(password)
        return [s for s in found if len(s) >= 3]


class Answer(NamedTuple):
    status: int
    retry_after: str | None
    location: str | None
    body: bytes | None = None  # read only for expect_body, at most MAX_BODY bytes


MAX_BODY = 1 << 20  # bytes of a response body read for expect_body
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@record
class BodyCheck:
    """What the response body must show: the JSON value at `path` equal to `equals` (compared
    as JSON: `equals_json`), or no value there (`absent`); or `regex` found in the text."""

    path: tuple[str | int, ...] = ()
    path_text: str = ""
    equals_json: str | None = None
    absent: bool = False
    regex: str = ""

    def describe(self) -> str:
        if self.regex:
            return f"body matches /{self.regex}/"
        if self.absent:
            return f"body has no {self.path_text}"
        return f"body {self.path_text} = {_short(self.equals_json or '')}"

    def judge(self, body: bytes) -> str | None:
        """None when the body shows it; else what it shows instead."""
        text = body.decode("utf-8", "replace")
        if self.regex:
            return None if re.search(self.regex, text) else f"the body does not match /{self.regex}/"
        try:
            value: object = json.loads(text)
        except ValueError:
            more = f" (read the first {MAX_BODY} bytes)" if len(body) >= MAX_BODY else ""
            return f"the body is not JSON{more}"
        for key in self.path:
            found = (isinstance(key, int) and isinstance(value, list) and key < len(value)) or (
                isinstance(key, str) and isinstance(value, dict) and key in value)
            if not found:
                return None if self.absent else f"the body has no {self.path_text}"
            value = value[key]  # type: ignore[index]  # a list with key an int, or a dict
        if self.absent:
            return f"the body has {self.path_text} = {_short(json.dumps(value))}"
        if _canonical(value) == self.equals_json:
            return None
        return (f"the body's {self.path_text} is {_short(json.dumps(value))}, "
                f"expected {_short(self.equals_json or '')}")


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _as_body_check(value: object) -> BodyCheck:
    """{ json = "status.phase", equals = "Running" }, { json = "error", absent = true } or
    { regex = "^ok" }."""
    if not isinstance(value, dict):
        raise ValueProblem('expected a table like { json = "status", equals = "ok" } or { regex = "ok" }')
    unknown = sorted(set(value) - {"json", "equals", "absent", "regex"})
    if unknown:
        raise ValueProblem(f"unknown key {unknown[0]!r} (json, equals, absent, regex)")
    if ("json" in value) == ("regex" in value):
        raise ValueProblem('give "json" (a path into a JSON body) or "regex", one of them')
    if "regex" in value:
        if "equals" in value or "absent" in value:
            raise ValueProblem('"equals" and "absent" go with "json", not "regex"')
        pattern = as_nonempty_str(value["regex"])
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueProblem(f"regex {pattern!r}: {err}") from None
        return BodyCheck(regex=pattern)
    path_text = as_nonempty_str(value["json"])
    absent = value.get("absent", False)
    if not isinstance(absent, bool):
        raise ValueProblem("absent: expected true or false")
    if absent == ("equals" in value):
        raise ValueProblem('with "json", give "equals" (the value expected there) or absent = true')
    return BodyCheck(path=_json_path(path_text), path_text=path_text, absent=absent,
                     equals_json=None if absent else _canonical(value["equals"]))


def _json_path(text: str) -> tuple[str | int, ...]:
    """`status.conditions[0].type` (a leading `$.` is allowed) -> ("status", "conditions", 0, "type")."""
    rest = text[2:] if text.startswith("$.") else text
    parts: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(rest):
        between = rest[position:match.start()]
        if between not in ("", ".") or (between == "" and match.group(1) and parts):
            raise ValueProblem(f"json {text!r}: expected a path like status.items[0].name")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not parts or position != len(rest):
        raise ValueProblem(f"json {text!r}: expected a path like status.items[0].name")
    return tuple(parts)


# --- parse and describe ------------------------------------------------------------------------

def parse(value: object, where: Where) -> Http | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { url = "http://127.0.0.1:8080/health" }')
        return None
    f = where.fields(value, ("url", "method", "headers", "body", "json", "expect_status",
                             "expect_body", "tls_verify", "ca_file", "follow_redirects"))
    url = f.need("url", _as_url, "", 'e.g. url = "http://127.0.0.1:8080/health"')
    method = f.take("method", _as_method, "GET")
    no_headers: tuple[tuple[str, str], ...] = ()
    headers = f.take("headers", as_str_map, no_headers)
    if f.has("body") and f.has("json"):
        f.problem(None, 'give "body" or "json", not both')
    body = f.take("body", as_str, None)
    payload = f.take("json", _as_json, None)
    data = payload if payload is not None else (body.encode() if body is not None else None)
    spec = Http(
        url=url, method=method, headers=headers, body=data, json_body=payload is not None,
        expect=f.take("expect_status", _as_statuses, DEFAULT_EXPECT),
        tls_verify=f.take("tls_verify", as_bool, True),
        ca_file=f.take("ca_file", as_nonempty_str, None),
        follow_redirects=f.take("follow_redirects", as_bool, False),
        expect_body=f.take("expect_body", _as_body_check, None),
    )
    return spec if f.ok else None


_HOST = re.compile(r"[A-Za-z0-9._~%-]+")  # a name or an IPv4 address; IPv6 is checked apart


def _as_url(value: object) -> str:
    """An http(s) URL the request can use; every message shows it with its password masked."""
    url = as_nonempty_str(value)
    rest = url.partition("://")[2]
    userinfo = rest[:rest.rfind("@")] if "@" in rest else ""
    if any(char in userinfo for char in "/?#"):
        raise ValueProblem(f"the user:password part of {redact(url)!r} has a '/', '?' or '#': "
                           "percent-encode them (%2F, %3F, %23)")
    if any(ord(char) < 0x21 or char == "\x7f" for char in url):
        raise ValueProblem(f"{redact(url)!r} has a space or a control character: percent-encode it")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ValueProblem(f"not a usable URL: {redact(url)!r} ({err})") from None
    host = parts.hostname or ""
    if "://" not in url or parts.scheme not in ("http", "https") or not host:
        raise ValueProblem(f"expected an http:// or https:// URL with a host, got {redact(url)!r}")
    if port == 0 or not (_HOST.fullmatch(host) or ":" in host):  # IPv6: host_problem checks it
        raise ValueProblem(f"not a usable host or port in {redact(url)!r}")
    if problem := host_problem(host):
        raise ValueProblem(f"{problem}, in {redact(url)!r}")
    return url


def _as_method(value: object) -> str:
    method = as_nonempty_str(value).upper()
    if not _METHOD.fullmatch(method):
        raise ValueProblem(f"expected an HTTP method like \"POST\", got {value!r}")
    return method


def _as_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _as_statuses(value: object) -> tuple[tuple[int, int], ...]:
    """200, [200, 204], "200-299" or ["200-299", 404]."""
    items = value if isinstance(value, list) else [value]
    ranges = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            ranges.append((item, item))
            continue
        match = _RANGE.fullmatch(item.strip()) if isinstance(item, str) else None
        if match is None or int(match.group(2) or match.group(1)) < int(match.group(1)):
            raise ValueProblem(f'expected a status like 200, a range like "200-299", or a list of '
                               f"them, got {item!r}")
        ranges.append((int(match.group(1)), int(match.group(2) or match.group(1))))
    if not ranges:
        raise ValueProblem("expected at least one status")
    return tuple(ranges)


def redact(url: str) -> str:
    """The URL with its password replaced by ***: whatever follows the first ':' of the part
    before the last '@' (so a password with '/', '?' or '#' in it is masked too; at worst more
    than the password is masked, never less)."""
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0 or ":" not in rest[:at]:
        return url
    user = rest[:at].partition(":")[0]
    return f"{scheme}://{user}:***{rest[at:]}"


def _statuses(expect: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in expect)


def describe(spec: Http) -> str:
    http: Http = spec
    text = f"{http.method} {redact(http.url)}"
    extras = []
    if http.headers:
        extras.append("headers " + ", ".join(name for name, _ in http.headers))
    if http.body is not None:
        extras.append(f"{'a JSON' if http.json_body else 'a'} body of {len(http.body)} bytes")
    if http.expect != DEFAULT_EXPECT:
        extras.append(f"expect {_statuses(http.expect)}")
    if http.expect_body is not None:
        extras.append(http.expect_body.describe())
    if not http.tls_verify:
        extras.append("TLS not verified")
    return text + (f" ({'; '.join(extras)})" if extras else "")


# --- one attempt --------------------------------------------------------------------------------

def attempt(spec: Http, ctx: AttemptContext) -> Outcome:
    http: Http = spec
    target = f"{http.method} {redact(http.url)}"
    left = ctx.left()
    try:
        answer = call_within(lambda: _request(http, left, ctx.env), left)
    except Overrun:
        return timeout(f"no complete response from {target} within {format_duration(ctx.given())}")
    except NoAnswer as err:
        detail = _scrub(f"{target}: {err}", http)
        return fail(detail) if err.final else retry(detail)
    return _judge(http, target, answer)


def _judge(http: Http, target: str, answer: Answer) -> Outcome:
    status = answer.status
    said = f"HTTP {status} from {target}"
    if any(lo <= status <= hi for lo, hi in http.expect):
        if http.expect_body is None:
            return ok(said)
        wrong = http.expect_body.judge(answer.body or b"")
        if wrong is None:
            return ok(f"{said}, {http.expect_body.describe()}")
        return retry(_scrub(f"{said}, but {wrong}", http))
    if status == 429 or status >= 500:
        wait = retry_after_seconds(answer.retry_after, time.time())
        note = f" (Retry-After {format_duration(wait)})" if wait is not None else ""
        return retry(said + note, retry_after=wait)
    return fail(_scrub(said, http), why=_scrub(_hint(http, answer), http))


def _hint(http: Http, answer: Answer) -> str:
    status = answer.status
    if 300 <= status < 400:
        where = f" to {redact(answer.location)}" if answer.location else ""
        return f"redirect{where}; set follow_redirects = true or use the final url"
    hints = {400: "the server rejected the request; check the method, headers and body",
             401: "check the credentials", 403: "check the credentials",
             404: "check the url", 405: "check the method"}
    if status in hints:
        return f"client error; {hints[status]}"
    return f"expected {_statuses(http.expect)}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def _scrub(text: str, http: Http) -> str:
    """A last line of defence for texts that quote the request (exception messages)."""
    for secret in http.secrets():
        for form in {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}:
            text = text.replace(form, "***")
    return text


def _request(http: Http, seconds: float, env: Mapping[str, str]) -> Answer:
    """One request with httpx; the body of the response is not read."""
    import httpx  # here, not at the top: other hooks do not pay for its import

    parts = urlsplit(http.url)
    origin = (parts.scheme, parts.hostname, parts.port)
    custom = [name for name, _ in http.headers]

    def same_origin_only(request: httpx.Request) -> None:
        """A redirect to another origin gets none of the step's own headers (httpx itself
        drops only Authorization)."""
        url = request.url
        if (url.scheme, url.host, url.port) != origin:
            for name in custom:
                request.headers.pop(name, None)
            request.headers.pop("Authorization", None)

    proxy = proxy_for(parts.scheme, parts.hostname or "", env)
    try:
        # trust_env=False: the environment's proxies are curl's (proxy.py), not httpx's rules
        with httpx.Client(timeout=httpx.Timeout(max(seconds, 0.001)), verify=_tls(http, env),
                          follow_redirects=http.follow_redirects, trust_env=False, proxy=proxy,
                          event_hooks={"request": [same_origin_only]}) as client, \
                client.stream(http.method, http.url, headers=_headers(http), content=http.body) as r:
            body = _read_body(r) if http.expect_body is not None else None
            return Answer(r.status_code, r.headers.get("retry-after"), r.headers.get("location"), body)
    except httpx.TimeoutException as err:
        raise NoAnswer(f"timed out ({_phase(err)})") from None
    except httpx.ConnectError as err:
        raise _connect_problem(err) from None
    except httpx.LocalProtocolError:  # its text quotes the offending header value: not shown
        raise NoAnswer("the request cannot be sent (a header name or value is not valid HTTP)",
                       final=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
        raise NoAnswer(f"the request cannot be sent ({type(err).__name__}: {err})", final=True) from None
    except httpx.TooManyRedirects:
        raise NoAnswer("too many redirects", final=True) from None
    except UnicodeError:  # a host name the resolver cannot be asked for (a redirect's, say)
        raise NoAnswer("the request cannot be sent (a host name is not usable)", final=True) from None
    except httpx.TransportError as err:
        raise NoAnswer(f"{type(err).__name__}: {err or 'connection lost'}") from None


def _read_body(response: httpx.Response) -> bytes:
    """At most MAX_BODY bytes of the body (a larger one is cut there)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY]


def _headers(http: Http) -> list[tuple[str, str]]:
    headers = list(http.headers)
    names = {name.lower() for name, _ in headers}
    if http.json_body and "content-type" not in names:
        headers.append(("Content-Type", "application/json"))
    return headers


def _tls(http: Http, env: Mapping[str, str]) -> ssl.SSLContext | bool:
    """ca_file, else SSL_CERT_FILE / SSL_CERT_DIR as OpenSSL and curl read them, else the CA
    bundle hookrun carries (certifi, through httpx): what verifies a server's certificate."""
    if urlsplit(http.url).scheme != "https":
        return True
    if not http.tls_verify:
        return False
    cafile = http.ca_file or env.get("SSL_CERT_FILE") or None
    capath = None if http.ca_file else env.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return True
    import ssl

    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as err:
        what = f"ca_file {cafile}" if http.ca_file else f"SSL_CERT_FILE/SSL_CERT_DIR ({cafile or capath})"
        raise NoAnswer(f"cannot use {what}: {err}", final=True) from None


def _phase(err: httpx.TimeoutException) -> str:
    names = {"ConnectTimeout": "connecting", "ReadTimeout": "waiting for the response",
             "WriteTimeout": "sending the request", "PoolTimeout": "waiting for a connection"}
    return names.get(type(err).__name__, type(err).__name__)


def _connect_problem(err: httpx.ConnectError) -> NoAnswer:
    """What went wrong, from the OS error behind httpx's (its cause chain), not its text."""
    said = os_cause(err)
    if said == "untrusted":
        return NoAnswer("TLS certificate not trusted (set ca_file, or tls_verify = false)", final=True)
    if said == "refused":
        return NoAnswer("connection refused")
    if said == "unresolved":
        return NoAnswer("host name not resolved")
    return NoAnswer(f"cannot connect: {err}")


def os_cause(err: BaseException) -> str | None:
    """The OS error behind an httpx error, from its cause chain: "untrusted" (the server's TLS
    certificate), "refused", "unresolved"; None for anything else. Also used by endpoints."""
    import socket
    import ssl

    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "untrusted"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, socket.gaierror):
            return "unresolved"
        cause = cause.__cause__ or cause.__context__
    return None


HTTP: Kind[Http] = Kind("http", parse, describe, attempt)
