"""The harness's HTTP session rides out n8n's transient 503 "Database is not ready!" (no n8n needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from n8n_harness.launcher import http_session


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[str]]]:
    """Answers 503 to the first two requests, then 200; records each request's method."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            seen.append(self.command)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = (503, b'{"message":"Database is not ready!"}') if len(seen) <= 2 else (200, b'{"ok":true}')
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_503_is_retried_for_every_method(flaky_server: tuple[str, list[str]], method: str) -> None:
    url, seen = flaky_server
    with http_session() as session:
        response = session.request(method, f"{url}/api/v1/workflows", json={"a": 1}, timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert seen == [method] * 3
