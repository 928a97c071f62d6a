"""The harness's HTTP calls ride out n8n's transient 503 "Database is not ready!" and a webhook
that answers late (no n8n needed)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from n8n_harness.launcher import N8nClient, http_session


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local HTTP server on a free port for the duration of the block; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[str]]]:
    """Answers 503 to the first two requests, then 200; records each request's method."""
    seen: list[str] = []

    class Handler(_QuietHandler):
        def _answer(self) -> None:
            seen.append(self.command)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._reply(*((503, b'{"message":"Database is not ready!"}') if len(seen) <= 2 else (200, b'{"ok":true}')))

        do_GET = do_POST = _answer

    with _serving(Handler) as url:
        yield url, seen


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_503_is_retried_for_every_method(flaky_server: tuple[str, list[str]], method: str) -> None:
    url, seen = flaky_server
    with http_session() as session:
        response = session.request(method, f"{url}/api/v1/workflows", json={"a": 1}, timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert seen == [method] * 3


class _StubClient(N8nClient):
    def __init__(self, url: str) -> None:
        self.version, self.api_key, self._url = "2.40.7", None, url
        self.webhook_read_timeout = 0.5

    @property
    def url(self) -> str:
        return self._url


@pytest.fixture
def slow_then_quick_server() -> Iterator[tuple[str, list[float]]]:
    """Holds the first request past the client's read timeout, answers the next at once."""
    seen: list[float] = []

    class Handler(_QuietHandler):
        def do_GET(self) -> None:
            seen.append(time.monotonic())
            if len(seen) == 1:
                time.sleep(1.5)
            try:
                self._reply(200, b'{"ok":true}')
            except OSError:  # the client gave up on this one
                pass

    with _serving(Handler) as url:
        yield url, seen


def test_wait_webhook_asks_again_after_a_read_timeout(slow_then_quick_server: tuple[str, list[float]]) -> None:
    url, seen = slow_then_quick_server
    response = _StubClient(url).wait_webhook("echo", timeout=30)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(seen) == 2


def test_wait_webhook_gives_up_on_timeouts_at_its_deadline() -> None:
    # A port nothing listens on: every call fails; the wait re-raises once its deadline passes.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        _StubClient(f"http://127.0.0.1:{port}").wait_webhook("echo", timeout=2)
    assert 2 <= time.monotonic() - start < 10
