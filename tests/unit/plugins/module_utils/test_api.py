"""The public API client against a local HTTP stub: headers, pagination, fallbacks, errors, no key leakage."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _api

KEY = "n8n_api_0123456789abcdef-SECRET"
Route = Callable[["Request"], tuple[int, Any]]


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> None:
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body


class Stub:
    """routes[(METHOD, path)] -> fn(request) -> (status, json body | bytes)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Request] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, parts.path, parse_qs(parts.query), headers, json.loads(raw) if raw else None)
                stub.requests.append(request)
                route = stub.routes.get((self.command, parts.path))
                status, body = route(request) if route else (404, {"message": "not found"})
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_OPTIONS = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def client(stub: Stub, **kwargs: Any) -> _api.N8nApi:
    return _api.N8nApi(stub.url, KEY, timeout=kwargs.pop("timeout", 5), **kwargs)


def test_sends_the_key_as_header_and_json(stub: Stub) -> None:
    stub.routes[("POST", "/api/v1/workflows/w%201/publish")] = lambda r: (200, {"id": "w 1", "activeVersionId": r.body["versionId"]})
    api = client(stub)
    answer = api.publish("w 1", "v9")
    assert answer["activeVersionId"] == "v9" and api.last_endpoint == "POST /publish"
    request = stub.requests[-1]
    assert request.headers["x-n8n-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert KEY not in repr(client(stub))


@pytest.mark.parametrize("base", ["{url}", "{url}/", "{url}/api/v1", "{url}/api/v1/"])
def test_base_url_forms(stub: Stub, base: str) -> None:
    stub.routes[("GET", "/api/v1/workflows/a")] = lambda r: (200, {"id": "a"})
    assert _api.N8nApi(base.format(url=stub.url), KEY).get_workflow("a") == {"id": "a"}


def test_pagination_follows_the_cursor(stub: Stub) -> None:
    pages = {None: (["1", "2"], "c1"), "c1": (["3", "4"], "c2"), "c2": (["5"], None)}

    def workflows(request: Request) -> tuple[int, Any]:
        cursor = request.query.get("cursor", [None])[0]
        ids, next_cursor = pages[cursor]
        assert request.query["limit"] == ["2"] and request.query["excludePinnedData"] == ["true"]
        return 200, {"data": [{"id": i} for i in ids], "nextCursor": next_cursor}

    stub.routes[("GET", "/api/v1/workflows")] = workflows
    api = client(stub)
    items = api.paginate("/workflows", "list workflows", {"excludePinnedData": True}, limit=2)
    assert [w["id"] for w in items] == ["1", "2", "3", "4", "5"]
    assert len(stub.requests) == 3


def test_pagination_stops_on_a_repeated_cursor(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/executions")] = lambda r: (200, {"data": [{"id": 1}], "nextCursor": "same"})
    assert len(client(stub).list_executions(status="running")) == 2
    assert stub.requests[0].query["status"] == ["running"] and stub.requests[0].query["includeData"] == ["false"]


@pytest.mark.parametrize(
    ("status", "body", "fragments"),
    [
        (401, {"message": "unauthorized"}, ["Cannot get workflow w1: HTTP 401 unauthorized.", "re-issued", "check api_key"]),
        (403, {"message": "Forbidden"}, ["HTTP 403 Forbidden", "workflow:read"]),
        (404, {"message": "Not Found"}, ["HTTP 404 Not Found", "Check the workflow id"]),
        (500, b"<!DOCTYPE html><html>boom</html>", ["HTTP 500 (an HTML page)", "n8n's log"]),
        # n8n (or a proxy) echoing the key must not leak it
        (400, {"message": "bad key " + KEY}, ["HTTP 400 bad key <redacted>."]),
    ],
)
def test_error_messages(stub: Stub, status: int, body: Any, fragments: list[str]) -> None:
    stub.routes[("GET", "/api/v1/workflows/w1")] = lambda r: (status, body)
    with pytest.raises(_api.N8nApiError) as caught:
        client(stub).get_workflow("w1")
    text = str(caught.value)
    for fragment in fragments:
        assert fragment.lower() in text.lower(), text
    assert KEY not in text and caught.value.status == status


def test_not_json_answer(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/workflows/w1")] = lambda r: (200, b"<html>login</html>")
    with pytest.raises(_api.N8nApiError, match="not JSON.*login page"):
        client(stub).get_workflow("w1")


def test_unreachable_and_timeout() -> None:
    with pytest.raises(_api.N8nApiError, match="cannot reach n8n at http://127.0.0.1:9 .*Check api_url") as caught:
        _api.N8nApi("http://127.0.0.1:9", KEY, timeout=2).get_workflow("x")
    assert KEY not in str(caught.value)


def test_timeout(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/workflows/slow")] = lambda r: (time.sleep(2), (200, {}))[1]
    with pytest.raises(_api.N8nApiError, match="did not answer within 0.5 s.*api_timeout"):
        client(stub, timeout=0.5).get_workflow("slow")


@pytest.mark.parametrize(("url", "key", "match"), [("", KEY, "api_url is empty"), ("http://x", "", "api_key is empty")])
def test_refuses_empty_settings(url: str, key: str, match: str) -> None:
    with pytest.raises(_api.N8nApiError, match=match):
        _api.N8nApi(url, key)


def test_publish_falls_back_to_activate_on_1x(stub: Stub) -> None:
    # 1.x routes POST .../publish to its GET-only /workflows/{id}/{versionId}: 405.
    stub.routes[("POST", "/api/v1/workflows/w1/publish")] = lambda r: (405, {"message": "POST method not allowed"})
    stub.routes[("POST", "/api/v1/workflows/w1/unpublish")] = lambda r: (405, {"message": "POST method not allowed"})
    stub.routes[("POST", "/api/v1/workflows/w1/activate")] = lambda r: (200, {"id": "w1", "active": True})
    stub.routes[("POST", "/api/v1/workflows/w1/deactivate")] = lambda r: (200, {"id": "w1", "active": False})
    api = client(stub)
    assert api.publish("w1", "v1")["active"] is True
    assert api.publish_supported is False
    assert api.unpublish("w1")["active"] is False
    assert [r.path.rsplit("/", 1)[1] for r in stub.requests] == ["publish", "activate", "deactivate"]
    assert api.last_endpoint == "POST /deactivate"
    assert stub.requests[1].body == {"versionId": "v1"}


def test_publish_does_not_fall_back_on_real_404s(stub: Stub) -> None:
    stub.routes[("POST", "/api/v1/workflows/w1/publish")] = lambda r: (404, {"message": "Version not found"})
    with pytest.raises(_api.N8nApiError, match="Cannot publish workflow w1: HTTP 404 Version not found"):
        client(stub).publish("w1", "nope")
    assert len(stub.requests) == 1


@pytest.mark.parametrize(
    ("workflow", "history_status", "major", "requests"),
    [
        ({"id": "w1", "versionId": "v"}, 200, 1, 0),  # no activeVersionId at all: old 1.x
        ({"id": "w1", "versionId": "v", "activeVersionId": "v"}, 404, 1, 1),  # 1.123: "Version not found"
        ({"id": "w1", "versionId": "v", "activeVersionId": None}, 200, 2, 1),
    ],
)
def test_detect_major(stub: Stub, workflow: dict[str, Any], history_status: int, major: int, requests: int) -> None:
    answer = {"data": [], "nextCursor": None} if history_status == 200 else {"message": "Version not found"}
    stub.routes[("GET", "/api/v1/workflows/w1/history")] = lambda r: (history_status, answer)
    api = client(stub)
    assert api.detect_major(workflow) == major
    assert api.detect_major(workflow) == major  # remembered
    assert len(stub.requests) == requests


def test_detect_major_passes_auth_errors_on(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/workflows/w1/history")] = lambda r: (401, {"message": "unauthorized"})
    with pytest.raises(_api.N8nApiError, match="401"):
        client(stub).detect_major({"id": "w1", "activeVersionId": None})


def test_optional_params_are_dropped(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/workflows")] = lambda r: (200, {"data": [], "nextCursor": None})
    client(stub).list_workflows()
    assert "active" not in stub.requests[0].query
    client(stub).list_workflows(active=False)
    assert stub.requests[1].query["active"] == ["false"]


def test_data_shape_is_checked(stub: Stub) -> None:
    stub.routes[("GET", "/api/v1/workflows")] = lambda r: (200, {"items": []})
    with pytest.raises(_api.N8nApiError, match="without a data list"):
        client(stub).list_workflows()


def test_a_503_is_retried_until_n8n_answers(stub: Stub) -> None:
    answers = iter([(503, {"message": "Database is not ready!"})] * 3 + [(200, {"id": "w1"})])
    stub.routes[("GET", "/api/v1/workflows/w1")] = lambda r: next(answers)
    pauses: list[float] = []
    assert client(stub, sleep=pauses.append).get_workflow("w1") == {"id": "w1"}
    assert pauses == [1.0, 2.0, 4.0]
    assert len(stub.requests) == 4


def test_a_lasting_503_fails_saying_how_long_it_was_retried(stub: Stub) -> None:
    stub.routes[("POST", "/api/v1/workflows/w1/activate")] = lambda r: (503, {"message": "Database is not ready!"})
    pauses: list[float] = []
    with pytest.raises(_api.N8nApiError) as caught:
        client(stub, sleep=pauses.append, unavailable_wait=20).activate("w1")
    assert pauses == [1.0, 2.0, 4.0, 8.0]  # the next pause (8 s) would pass the 20 s budget
    text = str(caught.value)
    assert "HTTP 503 Database is not ready!" in text and "database ping" in text and "after 15 s of retries" in text
    assert caught.value.status == 503 and KEY not in text


@pytest.mark.parametrize("status", [500, 502, 404, 401])
def test_other_errors_are_not_retried(stub: Stub, status: int) -> None:
    stub.routes[("GET", "/api/v1/workflows/w1")] = lambda r: (status, {"message": "no"})
    pauses: list[float] = []
    with pytest.raises(_api.N8nApiError):
        client(stub, sleep=pauses.append).get_workflow("w1")
    assert pauses == [] and len(stub.requests) == 1
