"""endpoints: wait until this pod is no longer a ready endpoint of its Services, read from the
Kubernetes API as the pod's ServiceAccount, then a margin for the proxies to follow.

When a pod is deleted, its preStop hook starts at once, while the EndpointSlice controller,
then kube-proxy on every node (and ingress controllers, cloud load balancers) still have to
take it out of rotation. A fixed sleep guesses how long that takes; this step watches for it:
it lists the EndpointSlices of the pod's namespace, watches them from that list's
resourceVersion (re-listing when the watch ends or its version expired), and ends when no
endpoint with one of the pod's IPs is ready (a `ready` condition that is absent counts as
ready, as the API documents). Then it waits `margin` (kube-proxy's sync), never ending before
`min` from its start; the step's timeout is the ceiling.

In-cluster access only: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount's token (re-read for
every request: kubelet rotates it), CA and namespace under `serviceaccount`, no proxies. The
pod's IPs come from POD_IPS or POD_IP (the downward API: `hookrun manifest` sets both), the
namespace from POD_NAMESPACE or the ServiceAccount's. What cannot work (not in a pod, no token,
no IP, 401, 403, a certificate not trusted, an API server that cannot be reached) fails at
once with what to fix, so that a step with `unless = [this step]` falls back to a wait that
needs no API (quiet, sleep); the step is retried only when its `retries` says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hookrun.config.schema import Where, as_duration, as_nonempty_str, as_port, as_str_list, host_problem
from hookrun.config.values import format_duration
from hookrun.errors import NoEndpointAnswer, ValueProblem
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, fail, not_yet, ok, retry

if TYPE_CHECKING:
    import ssl

    import httpx

SERVICEACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
MAX_MARGIN = 30.0  # seconds: kube-proxy syncs within about a second; more is a sleep in disguise
API = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
WATCH_S = 60  # the server ends each watch after this (timeoutSeconds); then it is resumed
SERVICE_LABEL = "kubernetes.io/service-name"
FALLBACK = "a step with unless = [this step] falls back (see config/README.md)"


@record
class Endpoints:
    """The endpoints action."""

    margin: float = 1.0
    min: float = 0.0
    services: tuple[str, ...] = ()  # only these Services (default: every Service)
    namespace: str = ""  # default: POD_NAMESPACE, else the ServiceAccount's
    pod_ips: tuple[str, ...] = ()  # default: POD_IPS, else POD_IP
    serviceaccount: str = SERVICEACCOUNT


def parse(value: object, where: Where) -> Endpoints | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { margin = "1s" }')
        return None
    f = where.fields(value, ("margin", "min", "services", "namespace", "pod_ips", "serviceaccount"))
    margin = f.take("margin", as_duration, 1.0)
    if margin > MAX_MARGIN:
        f.problem("margin", f"at most {format_duration(MAX_MARGIN)} (kube-proxy follows an endpoint "
                  "change within about a second; use min for a longer floor)")
    spec = Endpoints(
        margin=margin,
        min=f.take("min", as_duration, 0.0),
        services=f.take("services", as_str_list, ()),
        namespace=f.take("namespace", as_nonempty_str, ""),
        pod_ips=f.take("pod_ips", as_str_list, ()),
        serviceaccount=f.take("serviceaccount", as_nonempty_str, SERVICEACCOUNT),
    )
    return spec if f.ok else None


def _which(spec: Endpoints) -> str:
    return f"Service {', '.join(spec.services)}" if spec.services else "any Service"


def describe(spec: Endpoints) -> str:
    text = (f"wait until this pod is no ready endpoint of {_which(spec)} (EndpointSlices, in-cluster API), "
            f"then {format_duration(spec.margin)}")
    return text + (f"; at least {format_duration(spec.min)} in all" if spec.min else "")


@record
class Access:
    """How to reach the API, and who this pod is."""

    base: str
    token_file: str
    ca_file: str
    namespace: str
    ips: frozenset[str]


def access(spec: Endpoints, env: Mapping[str, str]) -> Access:
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise NoEndpointAnswer("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set", why=FALLBACK)
    problem = host_problem(host)
    if problem is None:
        try:
            as_port(port)
        except ValueProblem as err:
            problem = f"port {port[:20]!r}: {err}"
    if problem is not None:
        raise NoEndpointAnswer(f"KUBERNETES_SERVICE_HOST/PORT do not make an address: {problem}",
                               why=FALLBACK)
    token, ca = os.path.join(spec.serviceaccount, "token"), os.path.join(spec.serviceaccount, "ca.crt")
    for path in (token, ca):
        if not os.path.isfile(path):
            raise NoEndpointAnswer(f"no ServiceAccount {os.path.basename(path)} at {path}",
                                   why="the pod mounts no token (automountServiceAccountToken: false?); "
                                   + FALLBACK)
    namespace = spec.namespace or env.get("POD_NAMESPACE", "")
    if not namespace:
        try:
            with open(os.path.join(spec.serviceaccount, "namespace"), encoding="utf-8") as handle:
                namespace = handle.read().strip()
        except OSError:
            namespace = ""
    if not namespace:
        raise NoEndpointAnswer("the pod's namespace is unknown",
                               why="set POD_NAMESPACE from the downward API (fieldRef metadata.namespace)")
    ips = spec.pod_ips or tuple(part.strip() for part in
                                (env.get("POD_IPS") or env.get("POD_IP") or "").split(",") if part.strip())
    if not ips:
        raise NoEndpointAnswer("the pod's IP is unknown", why="set POD_IP from the downward API "
                               "(fieldRef status.podIP); hookrun manifest does")
    bracketed = f"[{host}]" if ":" in host else host
    return Access(f"https://{bracketed}:{port}", token, ca, namespace, frozenset(ips))


def still_serving(slices: Mapping[str, Mapping[str, object]], ips: frozenset[str],
                  services: tuple[str, ...]) -> list[str]:
    """The Services (by slice label) that still list one of `ips` as a ready endpoint."""
    found = []
    for name, item in sorted(slices.items()):
        metadata = item.get("metadata")
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        service = labels.get(SERVICE_LABEL, name) if isinstance(labels, dict) else name
        if services and service not in services:
            continue
        endpoints = item.get("endpoints")
        for endpoint in endpoints if isinstance(endpoints, list) else ():
            if not isinstance(endpoint, dict) or not ips & set(endpoint.get("addresses") or ()):
                continue
            conditions = endpoint.get("conditions")
            ready = conditions.get("ready") if isinstance(conditions, dict) else None
            if ready is not False:  # absent: "should be interpreted as true"
                found.append(str(service))
                break
    return sorted(set(found))


class Watcher:
    """Lists, then watches, the namespace's EndpointSlices on a thread of its own; `serving` is
    the answer of still_serving() after every change, and a byte in the pipe `wake` says so. A
    watch that ends (the server's timeoutSeconds, a quiet read) is resumed, as the protocol
    wants; one that breaks gets one list again at once, and a second failure in a row is a
    `problem` for the attempt to report (the executor owns retries and their pauses). It ends
    itself when nobody has asked for `serving` for IDLE_S (the attempt that started it is
    over), or at stop()."""

    IDLE_S = 2.0

    def __init__(self, api: Access, services: tuple[str, ...]) -> None:
        import threading  # here, as json and httpx: parsing the config at every start imports this module
        import weakref

        self.api = api
        self.services = services
        self.slices: dict[str, Mapping[str, object]] = {}
        self.serving: list[str] | None = None  # None until the first list
        self.problem: NoEndpointAnswer | None = None
        self.wake, self._woken = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # closed when nothing holds the watcher any more (its thread ended, the attempt is over):
        # never while an fd number could still be read, dup'ed or written here
        weakref.finalize(self, _close, self.wake, self._woken)
        self.stopped = threading.Event()
        self.asked = time.monotonic()
        self.response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._run, name="hookrun-endpoints", daemon=True)
        self.thread.start()

    def read(self) -> tuple[list[str] | None, NoEndpointAnswer | None]:
        """What is known now (drains the wake pipe)."""
        self.asked = time.monotonic()
        with contextlib.suppress(OSError):
            os.read(self.wake, 4096)
        return self.serving, self.problem

    def stop(self) -> None:
        self.stopped.set()
        response = self.response
        if response is not None:
            with contextlib.suppress(Exception):  # from another thread: ends a blocked read, or not
                response.close()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as err:  # anything: a thread's exception would print a traceback
            if not self._over():  # after stop(): closing the stream under it, expected
                self._fail(NoEndpointAnswer(f"reading the EndpointSlices failed: {type(err).__name__}",
                                            retryable=True))

    def _loop(self) -> None:
        import httpx  # here: only hooks with this step pay for its import

        try:
            context = _tls(self.api.ca_file)
        except NoEndpointAnswer as err:
            self._fail(err)
            return
        timeouts = httpx.Timeout(connect=2.0, read=self.IDLE_S, write=2.0, pool=2.0)
        with httpx.Client(base_url=self.api.base, verify=context, trust_env=False,
                          timeout=timeouts) as client:
            broken = False  # the last watch broke: one more list at once, then it is the executor's
            while not self._over():
                try:
                    version = self._list(client)
                    broken = False
                    self._watch(client, version)
                except NoEndpointAnswer as err:
                    if self.serving is None or not err.retryable or broken:
                        self._fail(err)
                        return
                    broken = True
                except httpx.TransportError as err:
                    if self._over():
                        return
                    if self.serving is None or broken:
                        self._fail(_transport_problem(err, self.api.base))
                        return
                    broken = True

    def _over(self) -> bool:
        return self.stopped.is_set() or time.monotonic() - self.asked > self.IDLE_S

    def _fail(self, err: NoEndpointAnswer) -> None:
        self.problem = err
        self._notify()

    def _notify(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._woken, b"!")

    def _headers(self) -> dict[str, str]:
        try:
            with open(self.api.token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as err:
            raise NoEndpointAnswer(f"cannot read the ServiceAccount token {self.api.token_file}: "
                                   f"{err.strerror or err}") from None
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _list(self, client: httpx.Client) -> str:
        path = API.format(namespace=self.api.namespace)
        response = client.get(path, headers=self._headers())
        _check(response.status_code, response.content, self.api.namespace)
        body = _json(response.content)
        items = body.get("items")
        metadata = body.get("metadata")
        if not isinstance(items, list) or not isinstance(metadata, dict):
            raise NoEndpointAnswer("the API answered the EndpointSlice list with something else",
                                   retryable=True)
        self.slices = {str(item.get("metadata", {}).get("name")): item
                       for item in items if isinstance(item, dict)}
        self._update()
        return str(metadata.get("resourceVersion", ""))

    def _watch(self, client: httpx.Client, version: str) -> None:
        """Events until the stream ends; a quiet stream is re-read every IDLE_S (read timeout)
        so that the thread sees stop() and idleness, and is then resumed from where it was."""
        import httpx

        path = API.format(namespace=self.api.namespace)
        while not self._over():
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                      "timeoutSeconds": str(WATCH_S)}
            with client.stream("GET", path, params=params, headers=self._headers()) as response:
                self.response = response
                try:
                    if response.status_code != 200:
                        _check(response.status_code, response.read(), self.api.namespace)
                    for line in response.iter_lines():
                        if self._over():
                            return
                        if line.strip():
                            version = self._event(_json(line.encode())) or version
                    return  # the server ended the watch: list again
                except httpx.ReadTimeout:
                    continue  # quiet: look at stop() and idleness, then watch on from `version`
                finally:
                    self.response = None

    def _event(self, event: Mapping[str, object]) -> str | None:
        """Applies one watch event; the resourceVersion it carries."""
        kind, item = event.get("type"), event.get("object")
        if not isinstance(item, dict):
            return None
        if kind == "ERROR":  # 410 Gone: the version expired; anything else: list again too
            raise NoEndpointAnswer(f"the watch ended: {item.get('message', item.get('reason', 'error'))}",
                                   retryable=True)
        metadata = item.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = str(metadata.get("name") or "")
        if kind in ("ADDED", "MODIFIED") and name:
            self.slices[name] = item
            self._update()
        elif kind == "DELETED":
            self.slices.pop(name, None)
            self._update()
        version = metadata.get("resourceVersion")
        return str(version) if version else None

    def _update(self) -> None:
        self.serving = still_serving(self.slices, self.api.ips, self.services)
        self._notify()


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _json(data: bytes) -> dict[str, object]:
    import json

    try:
        value = json.loads(data)
    except ValueError:
        raise NoEndpointAnswer("the API answered with something that is not JSON", retryable=True) from None
    if not isinstance(value, dict):
        raise NoEndpointAnswer("the API answered with something that is not a JSON object", retryable=True)
    return value


def _check(status: int, body: bytes, namespace: str) -> None:
    if status == 200:
        return
    import json

    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = ""
    said = f"HTTP {status} from the API server" + (f": {message}" if message else "")
    if status == 401:
        raise NoEndpointAnswer(said, why="the ServiceAccount token was not accepted")
    if status == 403:
        raise NoEndpointAnswer(said, why=f"grant get, list and watch on endpointslices (discovery.k8s.io) in "
                       f"{namespace} to the pod's ServiceAccount: `hookrun manifest` emits the Role "
                       "and RoleBinding")
    if status == 404:
        raise NoEndpointAnswer(said, why="the API server serves no discovery.k8s.io/v1 "
                               "(Kubernetes 1.21 or newer)")
    raise NoEndpointAnswer(said, retryable=True)


def _tls(ca_file: str) -> ssl.SSLContext:
    import ssl

    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise NoEndpointAnswer(f"cannot use the ServiceAccount CA {ca_file}: {err}") from None


def _transport_problem(err: Exception, base: str) -> NoEndpointAnswer:
    from hookrun.steps.http import os_cause

    said = os_cause(err)
    if said == "untrusted":
        return NoEndpointAnswer(f"the API server at {base} is not trusted by the ServiceAccount CA")
    if said == "refused":
        return NoEndpointAnswer(f"the API server at {base} refused the connection", retryable=True)
    name = type(err).__name__
    what = "did not answer in time" if "Timeout" in name else f"cannot be reached ({name})"
    return NoEndpointAnswer(f"the API server at {base} {what}", retryable=True)


def attempt(spec: Endpoints, ctx: AttemptContext) -> Outcome:
    """Polled by the executor, which wakes at once when the watcher learns something."""
    now = ctx.clock.now()
    started = ctx.memo.setdefault("started", now)
    watcher: Watcher | None = ctx.memo.get("watcher")
    if "removed" not in ctx.memo:
        if watcher is None:
            try:
                api = access(spec, ctx.env)
            except NoEndpointAnswer as err:
                return fail(str(err), why=err.why)
            watcher = ctx.memo["watcher"] = Watcher(api, spec.services)
        serving, problem = watcher.read()
        if problem is not None:
            watcher.stop()
            return retry(str(problem)) if problem.retryable else fail(str(problem), why=problem.why)
        if serving is None:
            return not_yet(f"listing the EndpointSlices of {watcher.api.namespace} at {watcher.api.base}",
                           _wake(watcher))
        if serving:
            return not_yet(f"still a ready endpoint of {', '.join(serving)} after "
                           f"{format_duration(now - started)}", _wake(watcher))
        watcher.stop()
        ctx.memo["removed"] = now
    removed = ctx.memo["removed"]
    until = max(removed + spec.margin, started + spec.min)
    if now < until:
        return not_yet(f"no ready endpoint any more after {format_duration(removed - started)}; "
                       f"waiting {format_duration(until - removed)} for the proxies to follow")
    return ok(f"no ready endpoint of {_which(spec)} after {format_duration(removed - started)}, "
              f"then waited {format_duration(now - removed)}")


def _wake(watcher: Watcher) -> tuple[int, ...]:
    """A copy of the watcher's wake fd for the executor to wait on (it closes it after)."""
    try:
        return (os.dup(watcher.wake),)
    except OSError:
        return ()


# polled (woken by the watcher), but not retried by default: an API server that cannot be reached
# fails the step at once, so that a fallback runs in time (set retries to try again)
ENDPOINTS: Kind[Endpoints] = Kind("endpoints", parse, describe, attempt, polling=True, poll_interval=0.05,
                                  retries_until_deadline=False)
