"""The fake Kubernetes API server (support/kube_api.py) against a real HTTPS client: it must answer
as the real API server does, or tests built on it prove nothing. The client verifies TLS with the
CA from the ServiceAccount directory and sends the token from there, as an in-cluster client does.
"""

from __future__ import annotations

import json
import queue
import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.kube_api import (
    SLICE,
    SLICE_LIST,
    STATUS,
    FakeKubeAPI,
    schemas,
    validate,
    validate_watch_event,
)

SLICES = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    """A server holding one slice of Service "web": two ready endpoints."""
    with FakeKubeAPI(tmp_path) as server:
        server.put(server.endpoint_slice("web-7xk2p", "web", [("127.0.1.5", "web-0", True, True, False),
                                                              ("127.0.1.6", "web-1", True, True, False)]))
        yield server


def client(api: FakeKubeAPI, token: str | None = None) -> httpx.Client:
    """An in-cluster client: CA and token from the ServiceAccount directory, address from env."""
    context = ssl.create_default_context(cafile=str(api.serviceaccount / "ca.crt"))
    token = (api.serviceaccount / "token").read_text() if token is None else token
    base = f"https://{api.env['KUBERNETES_SERVICE_HOST']}:{api.env['KUBERNETES_SERVICE_PORT']}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, verify=context, timeout=3, headers=headers)


class Watch:
    """A watch stream read on a thread of its own: each event lands in `events`; `ended` gets
    None when the stream ended cleanly, or the exception that cut it."""

    def __init__(self, api: FakeKubeAPI, **params: str) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ended: queue.Queue[BaseException | None] = queue.Queue()
        self.status = 0
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(api, {"watch": "1", **params}), daemon=True)
        self.thread.start()
        assert self.opened.wait(3), "the watch did not open"

    def _read(self, api: FakeKubeAPI, params: dict[str, str]) -> None:
        try:
            with client(api) as http, http.stream("GET", SLICES, params=params) as response:
                self.status = response.status_code
                self.opened.set()
                for line in response.iter_lines():
                    if line:
                        self.events.put(json.loads(line))
            self.ended.put(None)
        except Exception as error:
            self.opened.set()
            self.ended.put(error)

    def next(self, timeout: float = 1.0) -> dict[str, Any]:
        event = self.events.get(timeout=timeout)
        validate_watch_event(event)
        return event

    def end(self, timeout: float = 1.0) -> BaseException | None:
        return self.ended.get(timeout=timeout)


def conditions(event: dict[str, Any], ip: str) -> dict[str, bool]:
    [endpoint] = [e for e in event["object"]["endpoints"] if ip in e["addresses"]]
    return dict(endpoint["conditions"])


def test_serviceaccount_directory_and_env_are_laid_out_as_in_a_pod(api: FakeKubeAPI) -> None:
    assert sorted(p.name for p in api.serviceaccount.iterdir()) == ["ca.crt", "namespace", "token"]
    assert (api.serviceaccount / "namespace").read_text() == "shop"
    token = (api.serviceaccount / "token").read_text()
    assert token == api.token and len(token) == 40
    assert (api.serviceaccount / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert api.env == {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}
    assert api.host == "127.0.0.1" and api.port > 0


def test_list_with_the_token_answers_a_valid_endpointslice_list(api: FakeKubeAPI) -> None:
    with client(api) as http:
        response = http.get(SLICES)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    validate(body, SLICE_LIST)
    assert (body["kind"], body["apiVersion"]) == ("EndpointSliceList", "discovery.k8s.io/v1")
    assert body["metadata"] == {"resourceVersion": api.resource_version}
    [item] = body["items"]
    assert "kind" not in item and "apiVersion" not in item  # list items carry neither, as in the real API
    assert item["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert item["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert [e["targetRef"]["name"] for e in item["endpoints"]] == ["web-0", "web-1"]
    assert [(r.method, r.path, r.authorized, r.watch) for r in api.requests] == [("GET", SLICES, True, False)]


def test_list_of_another_namespace_is_empty_and_label_selector_filters(api: FakeKubeAPI) -> None:
    api.put(api.endpoint_slice("db-9abcd", "db", [("127.0.1.9", "db-0", True, True, False)]))
    with client(api) as http:
        other = http.get("/apis/discovery.k8s.io/v1/namespaces/elsewhere/endpointslices").json()
        db = http.get(SLICES, params={"labelSelector": "kubernetes.io/service-name=db"}).json()
        not_db = http.get(SLICES, params={"labelSelector": "kubernetes.io/service-name!=db,!missing"}).json()
        set_based = http.get(SLICES, params={"labelSelector": "kubernetes.io/service-name in (db)"})
        one = http.get(f"{SLICES}/web-7xk2p").json()
    assert other["items"] == []
    assert [i["metadata"]["name"] for i in db["items"]] == ["db-9abcd"]
    assert [i["metadata"]["name"] for i in not_db["items"]] == ["web-7xk2p"]
    assert set_based.status_code == 400 and set_based.json()["reason"] == "BadRequest"  # not implemented here
    validate(one, SLICE)
    assert (one["kind"], one["metadata"]["name"]) == ("EndpointSlice", "web-7xk2p")


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_no_or_a_wrong_token_gets_401_with_a_status_body(api: FakeKubeAPI, token: str) -> None:
    with client(api, token=token) as http:
        response = http.get(SLICES)
    assert response.status_code == 401
    body = response.json()
    validate(body, STATUS)
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    assert [r.authorized for r in api.requests] == [False]


def test_a_rotated_token_file_is_what_counts(api: FakeKubeAPI) -> None:
    old = api.token
    (api.serviceaccount / "token").write_text("n" * 40)
    with client(api, token=old) as stale, client(api) as fresh:
        assert stale.get(SLICES).status_code == 401
        assert fresh.get(SLICES).status_code == 200


def test_forbidden_knob_answers_403_as_rbac_does_for_list_and_watch(api: FakeKubeAPI) -> None:
    api.forbidden = True
    with client(api) as http:
        listed = http.get(SLICES)
        watched = http.get(SLICES, params={"watch": "true", "resourceVersion": api.resource_version})
    for response, verb in ((listed, "list"), (watched, "watch")):
        assert response.status_code == 403
        body = response.json()
        validate(body, STATUS)
        assert body["message"] == ('endpointslices.discovery.k8s.io is forbidden: User '
                                   f'"system:serviceaccount:shop:default" cannot {verb} resource '
                                   '"endpointslices" in API group "discovery.k8s.io" in the namespace "shop"')
        assert (body["reason"], body["code"]) == ("Forbidden", 403)
        assert body["details"] == {"group": "discovery.k8s.io", "kind": "endpointslices"}
    assert [r.watch for r in api.requests] == [False, True]


def test_unknown_path_answers_404_status(api: FakeKubeAPI) -> None:
    with client(api) as http:
        response = http.get("/api/v1/namespaces/shop/pods")
    assert response.status_code == 404
    body = response.json()
    validate(body, STATUS)
    assert body["reason"] == "NotFound"
    assert body["message"] == "the server could not find the requested resource"


def test_watch_from_the_list_version_sees_set_ready_within_a_second(api: FakeKubeAPI) -> None:
    with client(api) as http:
        version = http.get(SLICES).json()["metadata"]["resourceVersion"]
    watch = Watch(api, resourceVersion=version)
    assert watch.status == 200 and watch.events.empty()
    start = time.monotonic()
    api.set_ready("127.0.1.5", False, serving=True, terminating=True)
    event = watch.next(timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert event["type"] == "MODIFIED"
    assert conditions(event, "127.0.1.5") == {"ready": False, "serving": True, "terminating": True}
    assert conditions(event, "127.0.1.6") == {"ready": True, "serving": True, "terminating": False}
    assert int(event["object"]["metadata"]["resourceVersion"]) == int(version) + 1
    assert [r.watch for r in api.requests if r.watch] == [True]


def test_watch_from_an_older_version_replays_the_later_events_first(api: FakeKubeAPI) -> None:
    older = api.resource_version
    api.set_ready("127.0.1.5", False)
    api.remove_address("127.0.1.5")
    api.delete("web-7xk2p")
    watch = Watch(api, resourceVersion=older)
    replayed = [watch.next() for _ in range(3)]
    assert [e["type"] for e in replayed] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert conditions(replayed[0], "127.0.1.5")["ready"] is False
    assert [e["addresses"] for e in replayed[1]["object"]["endpoints"]] == [["127.0.1.6"]]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in replayed]
    assert versions == sorted(versions) and versions[-1] == int(api.resource_version)
    api.put(api.endpoint_slice("web-7xk2p", "web", [("127.0.1.7", "web-2", True, True, False)]))
    assert watch.next()["type"] == "ADDED"  # and then live ones
    assert watch.events.empty()


def test_watch_without_a_version_starts_with_the_current_state(api: FakeKubeAPI) -> None:
    watch = Watch(api)
    event = watch.next()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "web-7xk2p"


def test_watch_from_an_expired_version_gets_one_410_error_event_then_ends(api: FakeKubeAPI) -> None:
    older = api.resource_version
    api.set_ready("127.0.1.6", False)
    api.expire_history()
    watch = Watch(api, resourceVersion=older)
    event = watch.next()
    assert event["type"] == "ERROR"
    assert event["object"] == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": f"too old resource version: {older} ({api.resource_version})",
                               "reason": "Expired", "code": 410}
    assert watch.end() is None and watch.events.empty()
    assert Watch(api, resourceVersion=api.resource_version).events.empty()  # the current one still works


def test_drop_watches_cuts_the_stream_without_its_final_chunk(api: FakeKubeAPI) -> None:
    watch = Watch(api, resourceVersion=api.resource_version)
    for _ in range(100):
        if api.open_watches() == 1:
            break
        time.sleep(0.01)
    start = time.monotonic()
    assert api.drop_watches() == 1
    ended = watch.end(timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert isinstance(ended, httpx.RemoteProtocolError), ended  # an incomplete chunked body
    assert api.open_watches() == 0
    again = Watch(api, resourceVersion=api.resource_version)  # a reconnect is served as before
    api.set_ready("127.0.1.5", False)
    assert again.next()["type"] == "MODIFIED"


def test_bookmarks_come_when_allowed_and_the_stream_ends_after_timeout_seconds(api: FakeKubeAPI) -> None:
    api.bookmark_every = 0.2
    start = time.monotonic()
    watch = Watch(api, resourceVersion=api.resource_version, allowWatchBookmarks="true", timeoutSeconds="1")
    assert watch.end(timeout=2.0) is None
    assert 0.9 < time.monotonic() - start < 1.8
    bookmarks = [watch.next(timeout=0) for _ in range(watch.events.qsize())]
    assert len(bookmarks) >= 3
    assert {b["type"] for b in bookmarks} == {"BOOKMARK"}
    assert bookmarks[0]["object"] == {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                                      "metadata": {"resourceVersion": api.resource_version}}


def test_stopping_the_server_ends_open_watches_within_a_second(tmp_path: Path) -> None:
    with FakeKubeAPI(tmp_path) as api:
        watch = Watch(api)
        start = time.monotonic()
    assert watch.end(timeout=1.0) is None
    assert time.monotonic() - start < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api.url}/", verify=False, timeout=1)


def test_validator_rejects_an_unknown_field_naming_its_path(api: FakeKubeAPI) -> None:
    body: dict[str, Any] = {"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {},
                            "items": [api.slices()[0]]}
    body["items"][0]["endpoints"][1]["conditions"]["redy"] = True
    where = r"^\$\.items\[0\]\.endpoints\[1\]\.conditions: "
    with pytest.raises(AssertionError, match=where + "unknown field 'redy'"):
        validate(body, SLICE_LIST)


def test_validator_rejects_a_missing_required_field_naming_its_path(api: FakeKubeAPI) -> None:
    obj = api.slices()[0]
    del obj["endpoints"][0]["addresses"]
    with pytest.raises(AssertionError, match=r"^\$\.endpoints\[0\]: missing required field 'addresses'"):
        validate(obj, SLICE)
    del obj["addressType"]
    with pytest.raises(AssertionError, match=r"^\$: missing required field 'addressType'"):
        validate(obj, SLICE)


def test_validator_checks_types_refs_and_labels(api: FakeKubeAPI) -> None:
    obj = api.slices()[0]
    obj["metadata"]["labels"]["app.kubernetes.io/name"] = 3
    where = r'^\$\.metadata\.labels\["app\.kubernetes\.io/name"\]: '
    with pytest.raises(AssertionError, match=where + "expected string, got int 3"):
        validate(obj, SLICE)
    obj = api.slices()[0]
    obj["ports"][0]["port"] = True
    with pytest.raises(AssertionError, match=r"^\$\.ports\[0\]\.port: expected integer, got bool"):
        validate(obj, SLICE)
    obj = api.slices()[0]
    obj["metadata"]["creationTimestamp"] = "yesterday"
    with pytest.raises(AssertionError, match=r"creationTimestamp: 'yesterday' is not an RFC 3339 date-time"):
        validate(obj, SLICE)


def test_put_refuses_a_slice_the_schema_rejects(api: FakeKubeAPI) -> None:
    bad = api.endpoint_slice("web-bad", "web", [{"addresses": ["127.0.1.8"], "ready": True}])
    with pytest.raises(AssertionError, match=r"^\$\.endpoints\[0\]: unknown field 'ready'"):
        api.put(bad)
    assert [s["metadata"]["name"] for s in api.slices()] == ["web-7xk2p"]


def test_the_schema_file_names_its_source_and_every_ref_resolves() -> None:
    text = (Path(__file__).parents[1] / "support" / "k8s_schema.json").read_text()
    data = json.loads(text)
    assert data["source"].startswith("kubernetes/kubernetes api/openapi-spec/v3/apis__discovery.k8s.io__v1")
    names = set(schemas())
    for name in ("EndpointSlice", "EndpointSliceList", "Endpoint", "EndpointConditions", "EndpointHints",
                 "EndpointPort", "ForZone", "ForNode"):
        assert f"io.k8s.api.discovery.v1.{name}" in names
    for name in ("ObjectMeta", "ListMeta", "ManagedFieldsEntry", "OwnerReference", "Time", "FieldsV1",
                 "WatchEvent", "Status", "StatusDetails", "StatusCause"):
        assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{name}" in names
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert refs and refs <= names
