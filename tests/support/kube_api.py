"""A real Kubernetes API server on loopback, as a pod's in-cluster client sees it, for the
EndpointSlices (discovery.k8s.io/v1) of a namespace: HTTPS with a CA of its own, a ServiceAccount
directory (token, ca.crt, namespace) laid out like /var/run/secrets/kubernetes.io/serviceaccount,
bearer-token auth, list, get and watch, and v1 Status documents for every error.

Why: the step that waits until "this pod is no longer a ready endpoint of its Services" talks to
the API server, so its tests need one that answers as the real one does: the same paths, the same
Status bodies, watch streams of one JSON event per chunk with replay from a resourceVersion,
bookmarks, 410 Gone for a resourceVersion too old, streams that end on timeoutSeconds or are cut.
Every document the server sends is checked against the published OpenAPI schema (k8s_schema.json,
copied from the Kubernetes repository), so the fake cannot drift into answers the API never gives;
a rejected one is kept in `problems` and fails the test when the server stops.

Knobs: `forbidden` (403 as RBAC answers), `bookmark_every`, `expire_history()` (older versions are
Gone), `drop_watches()` (streams cut without their final chunk, to test reconnects). State:
`endpoint_slice()` builds a slice as the EndpointSlice controller writes it; `put`, `delete`,
`set_ready`, `remove_address` change it, each a new resourceVersion seen by open watches at once.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import queue
import re
import secrets
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, NoReturn
from urllib.parse import parse_qs, urlsplit

SCHEMA_FILE = Path(__file__).with_name("k8s_schema.json")
GROUP = "discovery.k8s.io"
MAX_WATCH_S = 300.0  # the longest a watch stream lasts, whatever the client asked
API_VERSION = "discovery.k8s.io/v1"
RESOURCE = "endpointslices"
SLICE = "io.k8s.api.discovery.v1.EndpointSlice"
SLICE_LIST = "io.k8s.api.discovery.v1.EndpointSliceList"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
WATCH_EVENT = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
DEFAULT_PORTS = ({"name": "http", "port": 8080, "protocol": "TCP"},)
PATH = re.compile(r"/apis/discovery\.k8s\.io/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)"
                  r"/endpointslices(?:/([^/]+))?/?")
FIRST_RESOURCE_VERSION = 1000  # where the counter starts: a fresh server is not at 0 or 1 either
EndpointSpec = tuple[str, str, bool, bool, bool] | Mapping[str, Any]  # (ip, pod, ready, serving, terminating)
Selector = Callable[[Mapping[str, str]], bool]  # labels -> selected?
Event = tuple[str, dict[str, Any]]  # (type, object)

# ---------------------------------------------------------------------------------------------
# The validator: the subset of OpenAPI v3 the Kubernetes schemas use. Unknown properties are an
# error (the API sends no field outside its schema); a keyword it does not know stops it, so no
# rule is ever skipped silently.

_REF = "#/components/schemas/"
_RULES = {"$ref", "allOf", "type", "required", "properties", "items", "additionalProperties", "enum",
          "format"}
_NOTES = {"description", "default", "uniqueItems"}  # keywords that constrain nothing here
_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,),
                                       "integer": (int,), "number": (int, float), "boolean": (bool,)}
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_INT_BITS = {"int32": 31, "int64": 63}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.cache
def schemas() -> dict[str, Any]:
    """The component schemas of k8s_schema.json, by name."""
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())["schemas"]
    return data


def validate(document: Any, schema_name: str, *, partial: bool = False, path: str = "$") -> None:
    """Check `document` against the component schema `schema_name`; AssertionError names the JSON
    path of the first problem. `partial` lets required fields be missing: the API's BOOKMARK objects
    carry only kind, apiVersion and metadata.resourceVersion."""
    if schema_name not in schemas():
        raise KeyError(f"no schema {schema_name!r} in {SCHEMA_FILE.name}")
    _check(document, {"$ref": _REF + schema_name}, path, schema_name, partial)


def validate_watch_event(event: Any, *, path: str = "$") -> None:
    """Check one watch event as the API sends it for EndpointSlices: a WatchEvent whose object is
    an EndpointSlice (a partial one for BOOKMARK) with kind and apiVersion, or a v1 Status for ERROR."""
    validate(event, WATCH_EVENT, path=path)
    kind = event["type"]
    if kind not in EVENT_TYPES:
        raise AssertionError(f"{path}.type: {kind!r} is not one of {', '.join(EVENT_TYPES)}")
    obj = event["object"]
    expected = ("Status", "v1") if kind == "ERROR" else ("EndpointSlice", API_VERSION)
    if (obj.get("kind"), obj.get("apiVersion")) != expected:
        raise AssertionError(f"{path}.object: a {kind} event carries kind {expected[0]!r}, apiVersion "
                             f"{expected[1]!r}, not {obj.get('kind')!r}, {obj.get('apiVersion')!r}")
    validate(obj, STATUS if kind == "ERROR" else SLICE, partial=kind == "BOOKMARK", path=f"{path}.object")


def _fail(path: str, problem: str, where: str) -> NoReturn:
    raise AssertionError(f"{path}: {problem} (schema {where})")


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _NAME.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _check(value: Any, schema: Mapping[str, Any], path: str, where: str, partial: bool) -> None:
    unknown = [k for k in schema if k not in _RULES and k not in _NOTES and not k.startswith("x-")]
    if unknown:
        raise ValueError(f"schema {where}: keyword(s) {unknown} not supported by this validator")
    if "$ref" in schema:
        ref = schema["$ref"]
        name = ref[len(_REF):]
        if not ref.startswith(_REF) or name not in schemas():
            raise ValueError(f"schema {where}: $ref {ref!r} is not in {SCHEMA_FILE.name}")
        _check(value, schemas()[name], path, name, partial)
    for part in schema.get("allOf", ()):
        _check(value, part, path, where, partial)
    if "enum" in schema and value not in schema["enum"]:
        _fail(path, f"{_describe(value)} is not one of {schema['enum']}", where)
    kind = schema.get("type")
    if kind is not None and (not isinstance(value, _TYPES[kind])
                             or (isinstance(value, bool) and kind in ("integer", "number"))):
        _fail(path, f"expected {kind}, got {_describe(value)}", where)
    form = schema.get("format")
    if form == "date-time" and isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        _fail(path, f"{value!r} is not an RFC 3339 date-time", where)
    bound = 2 ** _INT_BITS.get(form or "", 0)
    if form in _INT_BITS and isinstance(value, int) and not -bound <= value < bound:
        _fail(path, f"{value} does not fit {form}", where)
    if isinstance(value, dict):
        if not partial:
            for key in schema.get("required", ()):
                if key not in value:
                    _fail(path, f"missing required field {key!r}", where)
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if not isinstance(key, str):
                _fail(path, f"key {key!r} is not a string", where)
            if properties is not None and key in properties:
                _check(item, properties[key], _key_path(path, key), where, partial)
            elif isinstance(extra, Mapping):
                _check(item, extra, _key_path(path, key), where, partial)
            elif properties is not None or extra is False:
                _fail(path, f"unknown field {key!r}", where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", where, partial)


# ---------------------------------------------------------------------------------------------
# The server.

class KubeRequest(NamedTuple):
    """One request as the server saw it."""

    at: float  # time.monotonic() when it arrived
    method: str
    path: str
    query: dict[str, str]  # the last value of each parameter
    authorized: bool
    watch: bool


class _Watch:
    """One open watch stream: the events the state API queues for it, and "drop" or "stop"."""

    def __init__(self, namespace: str, select: Selector) -> None:
        self.namespace = namespace
        self.select = select
        self.queue: queue.SimpleQueue[Event | str] = queue.SimpleQueue()

    def wants(self, obj: Mapping[str, Any]) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("namespace") == self.namespace and self.select(meta.get("labels") or {}))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _uid(*parts: str) -> str:
    """A stable uid per object (the same name keeps its uid, as an update does)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _typed(obj: Mapping[str, Any], kind: str = "EndpointSlice") -> dict[str, Any]:
    """The object with kind and apiVersion first, as watch events and GET carry it (list items
    do not)."""
    return {"kind": kind, "apiVersion": API_VERSION, **copy.deepcopy(dict(obj))}


def status(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A v1 Status for a failure, field for field as the API server writes it."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason}
    if details is not None:
        body["details"] = dict(details)
    body["code"] = code
    return body


def _label_selector(text: str) -> Selector:
    """The equality-based label selectors (k=v, k==v, k!=v, k, !k, comma-joined); ValueError for
    set-based ones, which this server does not implement."""
    tests: list[Selector] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        match = re.fullmatch(r"(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*))?", part)
        if match is None or (match.group(1) and match.group(3)):
            raise ValueError(f"unable to parse requirement: {part!r} (only =, ==, != and exists here)")
        negate, key, op, want = match.groups()
        if op is None:
            tests.append(functools.partial(_has_label, key, not negate))
        else:
            tests.append(functools.partial(_label_is, key, want, op != "!="))
    return functools.partial(_all_hold, tests)


def _has_label(key: str, present: bool, labels: Mapping[str, str]) -> bool:
    return (key in labels) == present


def _label_is(key: str, value: str, equal: bool, labels: Mapping[str, str]) -> bool:
    return (labels.get(key) == value) == equal


def _all_hold(tests: list[Selector], labels: Mapping[str, str]) -> bool:
    return all(test(labels) for test in tests)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def make_certificates(where: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for IP 127.0.0.1 signed by it, made with the openssl command
    (EC P-256 keys: quick to make), both strict enough for clients that check X.509 strictly.
    Returns (CA certificate, server certificate, server key)."""
    where.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = where / "ca.key", where / "ca.crt"
    key, request, cert = where / "server.key", where / "server.csr", where / "server.crt"
    ext = where / "server.ext"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(["openssl", "req", "-x509", *new_key, "-days", "2", "-subj", "/CN=fake-kube-apiserver-ca",
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-keyout", str(ca_key), "-out", str(ca_cert)])
    _run(["openssl", "req", "-new", *new_key, "-subj", "/CN=kube-apiserver",
          "-keyout", str(key), "-out", str(request)])
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
          "-set_serial", str(secrets.randbits(63)), "-days", "2", "-extfile", str(ext), "-out", str(cert)])
    return ca_cert, cert, key


class FakeKubeAPI:
    """The API server of one cluster, holding EndpointSlices; a context manager that serves while
    it is entered. See the module docstring for what it answers and why."""

    def __init__(self, tmp: Path, namespace: str = "shop", token: str | None = None) -> None:
        self.tmp = tmp
        self.namespace = namespace  # the pod's namespace: the serviceaccount's, the default for slices
        self.token = token if token is not None else secrets.token_urlsafe(30)  # 40 characters
        self.serviceaccount = tmp / "serviceaccount"
        self.host = "127.0.0.1"
        self.port = 0
        self.url = ""
        self.env: dict[str, str] = {}
        self.forbidden = False  # list, get and watch answer 403, as RBAC does without a Role
        self.bookmark_every = 1.0  # seconds between BOOKMARK events, for watches that allow them
        self.requests: list[KubeRequest] = []
        self.problems: list[str] = []  # documents sent that the schema rejects, and handler errors
        self._lock = threading.Lock()
        self._rv = FIRST_RESOURCE_VERSION
        self._oldest = FIRST_RESOURCE_VERSION  # a watch from an older resourceVersion is Gone
        self._slices: dict[tuple[str, str], dict[str, Any]] = {}
        self._history: list[tuple[int, str, dict[str, Any]]] = []  # (resourceVersion, type, object)
        self._watches: set[_Watch] = set()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeKubeAPI:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
        if kind is None and self.problems:
            raise AssertionError("the fake API server went wrong:\n" + "\n".join(self.problems))

    def start(self) -> None:
        """Make the certificates and the ServiceAccount directory, and serve on a free port."""
        ca_cert, cert, key = make_certificates(self.tmp / "kube-apiserver")
        self.serviceaccount.mkdir(parents=True, exist_ok=True)
        (self.serviceaccount / "token").write_text(self.token)
        (self.serviceaccount / "ca.crt").write_bytes(ca_cert.read_bytes())
        (self.serviceaccount / "namespace").write_text(self.namespace)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        self._server = _Server(self, context)
        self.port = int(self._server.server_port)
        self.url = f"https://{self.host}:{self.port}"
        self.env = {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port)}
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-kube-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: open watches end (with their final chunk), every connection is shut, the
        port is released; all within about a second."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.queue.put("stop")
        server.shutdown()
        self._wait_closed(watches, 0.5)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)  # the plain socket's: wakes its reader
        server.server_close()
        if self._thread is not None:
            self._thread.join(1)

    def _wait_closed(self, watches: Iterable[_Watch], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        waiting = set(watches)
        while time.monotonic() < deadline:
            with self._lock:
                if not waiting & self._watches:
                    return
            time.sleep(0.01)

    # -- knobs --------------------------------------------------------------------------------

    def drop_watches(self) -> int:
        """Cut every open watch stream without its final chunk, as a broken connection or a
        restarting API server does; returns how many, once they are closed (within 1 s)."""
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.queue.put("drop")
        self._wait_closed(watches, 1.0)
        return len(watches)

    def expire_history(self) -> None:
        """Forget the history: a watch from any resourceVersion older than the current one gets
        410 Gone (reason Expired), as after etcd compaction."""
        with self._lock:
            self._history.clear()
            self._oldest = self._rv

    def open_watches(self) -> int:
        with self._lock:
            return len(self._watches)

    @property
    def resource_version(self) -> str:
        """The current resourceVersion, as a list would report it."""
        with self._lock:
            return str(self._rv)

    # -- state --------------------------------------------------------------------------------

    def endpoint_slice(self, name: str, service: str, endpoints: Iterable[EndpointSpec],
                       address_type: str = "IPv4",
                       ports: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """An EndpointSlice of `service` as the EndpointSlice controller writes it (not stored yet:
        see put). Each endpoint is (ip, pod name, ready, serving, terminating) or a dict taken as is."""
        ns, now = self.namespace, _now()
        service_uid = _uid("Service", ns, service)
        return {
            "metadata": {
                "name": name,
                "generateName": f"{service}-",
                "namespace": ns,
                "uid": _uid("EndpointSlice", ns, name),
                "resourceVersion": self.resource_version,
                "generation": 1,
                "creationTimestamp": now,
                "labels": {MANAGED_BY_LABEL: CONTROLLER, SERVICE_NAME_LABEL: service},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service,
                                     "uid": service_uid, "controller": True, "blockOwnerDeletion": True}],
                "managedFields": [{
                    "manager": "kube-controller-manager", "operation": "Update", "apiVersion": API_VERSION,
                    "time": now, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:addressType": {}, "f:endpoints": {}, "f:ports": {}, "f:metadata": {
                        "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
                        "f:generateName": {},
                        "f:labels": {".": {}, f"f:{MANAGED_BY_LABEL}": {}, f"f:{SERVICE_NAME_LABEL}": {}},
                        "f:ownerReferences": {".": {}, f'k:{{"uid":"{service_uid}"}}': {}}}},
                }],
            },
            "addressType": address_type,
            "endpoints": [self._endpoint(e) for e in endpoints],
            "ports": [dict(p) for p in (DEFAULT_PORTS if ports is None else ports)],
        }

    def _endpoint(self, spec: EndpointSpec) -> dict[str, Any]:
        if isinstance(spec, Mapping):
            return copy.deepcopy(dict(spec))
        ip, pod, ready, serving, terminating = spec
        return {"addresses": [ip],
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": self.namespace, "name": pod,
                              "uid": _uid("Pod", self.namespace, pod)}}

    def put(self, endpoint_slice: Mapping[str, Any]) -> dict[str, Any]:
        """Add or replace a slice (by namespace and name): an ADDED or MODIFIED event at a new
        resourceVersion. Returns the slice as stored; AssertionError if the schema rejects it."""
        obj = copy.deepcopy(dict(endpoint_slice))
        obj.pop("kind", None)  # stored as list items are: without kind and apiVersion
        obj.pop("apiVersion", None)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("an EndpointSlice needs metadata.name")
        meta.setdefault("namespace", self.namespace)
        meta.setdefault("uid", _uid("EndpointSlice", meta["namespace"], meta["name"]))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("resourceVersion", self.resource_version)
        validate(obj, SLICE)
        key = (meta["namespace"], meta["name"])
        with self._lock:
            old = self._slices.get(key)
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            if old is not None:  # an update keeps identity and counts a generation
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                meta["generation"] = old["metadata"].get("generation", 1) + 1
            else:
                meta.setdefault("generation", 1)
            self._slices[key] = obj
            self._emit("MODIFIED" if old is not None else "ADDED", obj)
            return copy.deepcopy(obj)

    def delete(self, name: str, namespace: str | None = None) -> None:
        """Delete a slice: a DELETED event carrying its last state at the new resourceVersion."""
        key = (namespace or self.namespace, name)
        with self._lock:
            obj = self._slices.pop(key)
            self._rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._emit("DELETED", obj)

    def slices(self) -> list[dict[str, Any]]:
        """Copies of every stored slice, by namespace and name."""
        with self._lock:
            return [copy.deepcopy(self._slices[key]) for key in sorted(self._slices)]

    def set_ready(self, ip: str, ready: bool, serving: bool | None = None,
                  terminating: bool | None = None) -> int:
        """Set the conditions of every endpoint with address `ip`, in every slice (one MODIFIED event
        per slice); returns how many slices changed, KeyError if none has that address."""

        def change(endpoint: dict[str, Any]) -> dict[str, Any] | None:
            conditions = endpoint.setdefault("conditions", {})
            conditions["ready"] = ready
            if serving is not None:
                conditions["serving"] = serving
            if terminating is not None:
                conditions["terminating"] = terminating
            return endpoint

        return self._change_address(ip, change)

    def remove_address(self, ip: str) -> int:
        """Drop every endpoint with address `ip` from every slice (one MODIFIED event per slice);
        returns how many slices changed, KeyError if none has that address."""
        return self._change_address(ip, lambda endpoint: None)

    def _change_address(self, ip: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> int:
        changed = 0
        for obj in self.slices():
            endpoints = obj.get("endpoints") or []
            if not any(ip in e.get("addresses", ()) for e in endpoints):
                continue
            kept = [e if ip not in e.get("addresses", ()) else change(e) for e in endpoints]
            obj["endpoints"] = [e for e in kept if e is not None]
            self.put(obj)
            changed += 1
        if not changed:
            raise KeyError(f"no endpoint has address {ip}")
        return changed

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        """Keep the event and queue it for the watches that want it; called holding the lock."""
        self._history.append((self._rv, kind, copy.deepcopy(obj)))
        event_object = _typed(obj)
        for watch in self._watches:
            if watch.wants(obj):
                watch.queue.put((kind, event_object))

    # -- what the handlers use ----------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        try:
            token = (self.serviceaccount / "token").read_text().strip()
        except OSError:
            return False
        return bool(token) and header == f"Bearer {token}"

    def _record(self, request: KubeRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def _checked(self, document: dict[str, Any], check: Callable[[Any], None], what: str) -> dict[str, Any]:
        try:
            check(document)
        except AssertionError as error:
            self._problem(f"{what}: {error}")
        return document

    def _list(self, namespace: str, select: Selector) -> dict[str, Any]:
        with self._lock:
            items = [copy.deepcopy(obj) for (ns, _), obj in sorted(self._slices.items())
                     if ns == namespace and select(obj["metadata"].get("labels") or {})]
            return {"kind": "EndpointSliceList", "apiVersion": API_VERSION,
                    "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._slices.get((namespace, name))
            return None if obj is None else _typed(obj)

    def _open_watch(self, watch: _Watch, since: int | None) -> tuple[list[Event], int | None]:
        """Register a watch and return (events to send first, None) in one step, so that nothing is
        missed or sent twice; or ([], oldest resourceVersion) when `since` is Gone."""
        with self._lock:
            if since is None:  # no resourceVersion, or "0": the current state as ADDED events
                first = [("ADDED", _typed(obj)) for _, obj in sorted(self._slices.items())
                         if watch.wants(obj)]
            elif since < self._oldest:
                return [], self._oldest
            else:
                first = [(kind, _typed(obj)) for rv, kind, obj in self._history
                         if rv > since and watch.wants(obj)]
            if not self._stopping.is_set():
                self._watches.add(watch)
            else:
                watch.queue.put("stop")
            return first, None

    def _close_watch(self, watch: _Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _bookmark_version(self, watch: _Watch) -> str | None:
        """The resourceVersion a bookmark may carry now: the current one, if nothing is queued."""
        with self._lock:
            return str(self._rv) if watch.queue.empty() else None


class _Server(ThreadingHTTPServer):
    """HTTPS, one thread a connection; the TLS handshake happens on that thread (a slow client holds
    up no one), and every connection is tracked so that stop() can shut it."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, api: FakeKubeAPI, context: ssl.SSLContext) -> None:
        self.api = api
        self.context = context
        super().__init__((api.host, 0), _Handler)

    def server_bind(self) -> None:  # as HTTPServer's, without its reverse DNS look-up
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conns = self.api._connections
        with self.api._lock:
            conns.add(request)
        try:
            request.settimeout(10)
            conn = self.context.wrap_socket(request, server_side=True)
        except OSError:
            return
        finally:
            with self.api._lock:
                conns.discard(request)
        with self.api._lock:
            conns.add(conn)
        try:
            _Handler(conn, client_address, self)
        finally:
            with self.api._lock:
                conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a client gone mid-answer is no fault of the server's
            self.api._problem("handler error:\n" + traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this long
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _answer(self) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._drain_body()
        match = PATH.fullmatch(url.path)
        name = match.group(3) if match else None
        watch = bool(match and name is None and query.get("watch", "").lower() in ("1", "true"))
        authorized = api._authorized(self.headers.get("Authorization"))
        api._record(KubeRequest(time.monotonic(), self.command, url.path, query, authorized, watch))
        if not authorized:
            self._status(status(401, "Unauthorized", "Unauthorized"))
        elif match is None:
            self._status(status(404, "NotFound", "the server could not find the requested resource", {}))
        elif self.command != "GET":
            self._status(status(405, "MethodNotAllowed", "the server does not allow this method on the "
                                "requested resource", {"group": GROUP, "kind": RESOURCE}))
        elif api.forbidden:
            namespace, verb = match.group(1), "watch" if watch else "get" if name else "list"
            who = f'{RESOURCE}.{GROUP}{f" {json.dumps(name)}" if name else ""}'
            details = {"group": GROUP, "kind": RESOURCE} if name is None else {
                "name": name, "group": GROUP, "kind": RESOURCE}
            self._status(status(403, "Forbidden", f'{who} is forbidden: User "system:serviceaccount:'
                                f'{api.namespace}:default" cannot {verb} resource "{RESOURCE}" in API group '
                                f'"{GROUP}" in the namespace "{namespace}"', details))
        elif name is not None:
            obj = api._get(match.group(1), name)
            if obj is None:
                self._status(status(404, "NotFound", f'{RESOURCE}.{GROUP} "{name}" not found',
                                    {"name": name, "group": GROUP, "kind": RESOURCE}))
            else:
                self._json(200, api._checked(obj, lambda d: validate(d, SLICE), "GET"))
        else:
            try:
                select = _label_selector(query.get("labelSelector", ""))
            except ValueError as error:
                self._status(status(400, "BadRequest", str(error)))
                return
            if watch:
                self._watch(match.group(1), select, query)
            else:
                self._json(200, api._checked(api._list(match.group(1), select),
                                             lambda d: validate(d, SLICE_LIST), "list"))

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20 or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def _status(self, body: dict[str, Any]) -> None:
        self._json(body["code"], self.server.api._checked(body, lambda d: validate(d, STATUS), "Status"))

    def _json(self, code: int, document: Mapping[str, Any]) -> None:
        body = json.dumps(document, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        event = self.server.api._checked({"type": kind, "object": obj}, validate_watch_event, f"{kind} event")
        self._chunk(json.dumps(event, separators=(",", ":")).encode() + b"\n")

    def _watch(self, namespace: str, select: Selector, query: Mapping[str, str]) -> None:
        """Stream events, one JSON object a chunk: first those after the resourceVersion asked
        for, then each change as it happens, bookmarks if allowed; until timeoutSeconds, a stop
        (ends with the final chunk) or a drop (cut without it)."""
        api = self.server.api
        since_text = query.get("resourceVersion", "")
        if since_text not in ("", "0") and not since_text.isdigit():
            self._status(status(400, "BadRequest", f'resourceVersion: Invalid value: "{since_text}": '
                                f'strconv.ParseUint: parsing "{since_text}": invalid syntax'))
            return
        timeout = query.get("timeoutSeconds", "")
        deadline = time.monotonic() + int(timeout) if timeout.isdigit() else None
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        watch = _Watch(namespace, select)
        since = None if since_text in ("", "0") else int(since_text)
        first, oldest = api._open_watch(watch, since)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if oldest is not None:
                self._event("ERROR", status(410, "Expired", f"too old resource version: {since} ({oldest})"))
                self._chunk(b"")
                return
            for kind, obj in first:
                self._event(kind, obj)
            if self._follow(watch, deadline, bookmarks):
                self._chunk(b"")
        finally:
            api._close_watch(watch)

    def _follow(self, watch: _Watch, deadline: float | None, bookmarks: bool) -> bool:
        """Send queued events until the stream should end; False if it was cut."""
        api = self.server.api
        next_bookmark = time.monotonic() + api.bookmark_every
        # bounded even without timeoutSeconds: a stream lasts at most MAX_WATCH_S
        deadline = min(deadline, time.monotonic() + MAX_WATCH_S) if deadline is not None \
            else time.monotonic() + MAX_WATCH_S
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return True
            wait = min(1.0, next_bookmark - now if bookmarks else 1.0,
                       deadline - now if deadline is not None else 1.0)
            try:
                item = watch.queue.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if api._stopping.is_set():
                    self.close_connection = True
                    return True
                if bookmarks and time.monotonic() >= next_bookmark:
                    version = api._bookmark_version(watch)
                    if version is not None:
                        self._event("BOOKMARK", {"kind": "EndpointSlice", "apiVersion": API_VERSION,
                                                 "metadata": {"resourceVersion": version}})
                    next_bookmark = time.monotonic() + api.bookmark_every
                continue
            if item == "stop":
                self.close_connection = True
                return True
            if item == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
                return False
            if isinstance(item, tuple):
                self._event(*item)
