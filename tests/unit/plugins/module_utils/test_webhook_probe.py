"""The OPTIONS webhook probe and round trips against a stub that answers the way n8n's webhook handler does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _webhook_probe as probe


class FakeN8n:
    """Registered production webhooks {(METHOD, path)}; counts executions like n8n would."""

    def __init__(self) -> None:
        self.registered: set[tuple[str, str]] = {("GET", "echo")}
        self.executions = 0
        self.preflights = 0
        self.not_n8n = False
        self.register_after = 0  # answer "not registered" to this many probes first
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_OPTIONS(self) -> None:  # noqa: N802
                fake.preflights += 1
                if fake.not_n8n:
                    return self._send(204, {})
                path = urlsplit(self.path).path.removeprefix("/webhook/")
                methods = sorted(m for m, p in fake.registered if p == path)
                wanted = self.headers["Access-Control-Request-Method"]
                if fake.register_after:
                    fake.register_after -= 1
                    methods = []
                headers = {"Access-Control-Allow-Methods": ", ".join(["OPTIONS", *methods])}
                if wanted in methods:
                    return self._send(204, headers)
                return self._send(500, headers, b"<!DOCTYPE html><html>Error</html>")

            def _call(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path.removeprefix("/webhook/")
                if (self.command, path) not in fake.registered:
                    return self._send(404, {"Content-Type": "application/json"}, b'{"code":404,"message":"not registered"}')
                if self.headers.get("X-Token") != "t0ken":
                    return self._send(403, {}, b"Authorization data is wrong!")
                fake.executions += 1
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = json.dumps({"echo": query.get("name", "nobody"), "version": "published"}).encode()
                return self._send(200, {"Content-Type": "application/json"}, body)

            do_GET = do_POST = _call

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def n8n() -> Iterator[FakeN8n]:
    fake = FakeN8n()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def no_sleep(seconds: float) -> None:
    pass


@pytest.mark.parametrize(
    ("base", "prefix", "path", "url"),
    [
        ("http://h:5678", "webhook", "echo", "http://h:5678/webhook/echo"),
        ("https://h/n8n/", "/hooks/", "/a/b", "https://h/n8n/hooks/a/b"),
        ("http://h", "", "echo", "http://h/echo"),
        ("http://h", "webhook", "with space", "http://h/webhook/with%20space"),
    ],
)
def test_webhook_url(base: str, prefix: str, path: str, url: str) -> None:
    assert probe.webhook_url(base, prefix, path) == url


def test_probe_tells_registered_from_not_without_executing(n8n: FakeN8n) -> None:
    n8n.registered.add(("POST", "other"))
    hooks = [
        {"path": "echo", "method": "GET"},
        {"path": "echo", "method": "post", "expect_registered": False},  # another method at a registered path
        {"path": "inactive", "method": "POST", "expect_registered": False},
    ]
    results = probe.probe_webhooks(n8n.url, hooks, sleep=no_sleep)
    assert [(r["registered"], r["ok"], r["status"], r["allowed_methods"]) for r in results] == [
        (True, True, 204, ["GET"]),
        (False, True, 500, ["GET"]),
        (False, True, 500, []),
    ]
    assert n8n.executions == 0


def test_probe_polls_until_registered(n8n: FakeN8n) -> None:
    n8n.register_after = 2
    sleeps: list[float] = []
    (result,) = probe.probe_webhooks(n8n.url, [{"path": "echo"}], attempts=5, delay=0.5, sleep=sleeps.append)
    assert result["ok"] and result["attempts"] == 3 and sleeps == [0.5, 0.5]


def test_probe_reports_a_mismatch_after_all_attempts(n8n: FakeN8n) -> None:
    (result,) = probe.probe_webhooks(n8n.url, [{"path": "nothing"}], attempts=3, sleep=no_sleep)
    assert not result["ok"] and result["attempts"] == 3
    assert result["error"] == "GET nothing is not registered, expected registered"


@pytest.mark.parametrize("expect", [True, False])
def test_an_answer_not_from_n8n_proves_nothing(n8n: FakeN8n, expect: bool) -> None:
    n8n.not_n8n = True  # e.g. a proxy answering preflights itself
    (result,) = probe.probe_webhooks(n8n.url, [{"path": "echo"}], expect_registered=expect, sleep=no_sleep)
    assert result["registered"] is None and not result["ok"]
    assert "Access-Control-Allow-Methods" in result["error"]


def test_unreachable_proves_nothing() -> None:
    (result,) = probe.probe_webhooks("http://127.0.0.1:9", [{"path": "x"}], expect_registered=False, sleep=no_sleep)
    assert not result["ok"] and "cannot reach" in result["error"]


@pytest.mark.parametrize(
    ("hooks", "match"),
    [([{"method": "GET"}], "path must be"), ([{"path": "x", "method": "FETCH"}], "method must be"), (["x"], "must be a dict")],
)
def test_probe_rejects_bad_specs(hooks: list[Any], match: str) -> None:
    with pytest.raises(probe.WebhookProbeError, match=match):
        probe.probe_webhooks("http://h", hooks)


def test_round_trip_checks_status_and_body(n8n: FakeN8n) -> None:
    spec = {"path": "echo", "headers": {"X-Token": "t0ken"}, "query": {"name": "lb"}, "json_equals": {"echo": "lb", "version": "published"}}
    result = probe.round_trip(n8n.url, spec)
    assert result["ok"] and result["status"] == 200 and n8n.executions == 1
    wrong = probe.round_trip(n8n.url, {"path": "echo", "query": {"name": "lb"}, "status": [200], "body_contains": "published"})
    assert not wrong["ok"] and wrong["status"] == 403
    assert wrong["error"] == "HTTP 403, expected 200; the body does not contain the expected text"
    forbidden = probe.round_trip(n8n.url, {"path": "echo", "status": 403, "body_contains": "Authorization data is wrong"})
    assert forbidden["ok"]


def test_round_trip_retries_only_404(n8n: FakeN8n) -> None:
    result = probe.round_trip(n8n.url, {"path": "later"}, attempts=3, sleep=no_sleep)
    assert result["attempts"] == 3 and result["status"] == 404 and not result["ok"]
    result = probe.round_trip(n8n.url, {"path": "echo", "status": 200}, attempts=3, sleep=no_sleep)
    assert result["attempts"] == 1 and result["status"] == 403


def test_run_probe_in_check_mode_skips_round_trips(n8n: FakeN8n) -> None:
    options = {
        "base_url": n8n.url,
        "webhooks": [{"path": "echo"}, {"path": "inactive", "method": "POST", "expect_registered": False}],
        "requests": [{"path": "echo", "headers": {"X-Token": "t0ken"}}],
        "retries": 0,
    }
    result = probe.run_probe(options, check_mode=True)
    assert result["failures"] == [] and result["registered_count"] == 1
    assert result["requests"] == [{"path": "echo", "method": "GET", "skipped": True, "ok": None, "status": None}]
    assert n8n.executions == 0
    result = probe.run_probe(options)
    assert result["requests"][0]["ok"] and n8n.executions == 1


def test_run_probe_collects_failures(n8n: FakeN8n) -> None:
    result = probe.run_probe({"base_url": n8n.url, "webhooks": [{"path": "echo", "expect_registered": False}], "retries": 1, "delay": 0}, sleep=no_sleep)
    assert result["failures"] == ["GET echo: GET echo is registered, expected not registered"]
    assert result["msg"].startswith("Cannot confirm 1 webhook check(s)")


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"parameters": {"path": "p"}}, [("p", "GET")]),
        ({"parameters": {"path": "/p/", "httpMethod": "post"}}, [("p", "POST")]),
        ({"parameters": {"path": "p", "multipleMethods": True, "httpMethod": ["GET", "PUT"]}}, [("p", "GET"), ("p", "PUT")]),
        ({"parameters": {"path": "p", "multipleMethods": True}}, [("p", "GET"), ("p", "POST")]),
        ({"parameters": {}, "webhookId": "abc"}, [("abc", "GET")]),
        ({"parameters": {"path": "users/:id"}}, []),  # dynamic
        ({"parameters": {"path": "={{ $json.p }}"}}, []),  # expression
        ({"parameters": {"path": "p"}, "disabled": True}, []),
        ({"parameters": {"path": "p"}, "type": "n8n-nodes-base.formTrigger"}, []),
    ],
)
def test_workflow_webhooks(node: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    node = {"type": "n8n-nodes-base.webhook", "name": "W", **node}
    hooks = probe.workflow_webhooks({"nodes": [node]})
    assert [(h["path"], h["method"]) for h in hooks] == expected
