"""Waiting for a started n8n: readiness, this start's log line, registered webhooks (fakes for time and HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _wait_ready as wr
from ansible_collections.lifeboat.n8n.plugins.module_utils._webhook_probe import ProbeAnswer

EDITOR = "Editor is now accessible via:\nhttp://localhost:5678\n"


class FakeClock(wr.Clock):
    def __init__(self) -> None:
        self.t = 100.0
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.t += seconds


class Script:
    """Readiness, log text and webhook registration as functions of the fake clock's time."""

    def __init__(self, clock: FakeClock, ready_at: float = 0.0, log_at: float = 0.0, hooks_at: float = 0.0) -> None:
        self.clock, self.ready_at, self.log_at, self.hooks_at = clock, ready_at, log_at, hooks_at
        self.probes = 0
        self.reads = 0

    def elapsed(self) -> float:
        return self.clock.t - 100.0

    def ready(self, url: str, timeout: float, validate_certs: bool) -> tuple[bool, str]:
        ok = self.elapsed() >= self.ready_at
        return ok, f"{url}/healthz/readiness answered HTTP {200 if ok else 503}"

    def prober(self, url: str, method: str, timeout: float, validate_certs: bool) -> ProbeAnswer:
        self.probes += 1
        if self.elapsed() >= self.hooks_at:
            return ProbeAnswer(204, [method], True)
        return ProbeAnswer(500, [], False)


class ScriptLog(wr.LogSource):
    description = "scripted log"

    def __init__(self, script: Script) -> None:
        self.script = script

    def read(self) -> str:
        self.script.reads += 1
        return "n8n ready on ::, port 5678\n" + (EDITOR if self.script.elapsed() >= self.script.log_at else "")


def wait(script: Script, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("log", ScriptLog(script))
    return wr.wait_ready("http://127.0.0.1:5678", check_ready=script.ready, prober=script.prober, clock=script.clock, **kwargs)


HOOKS = [{"path": "orders", "method": "POST", "workflow_id": "w1"}, {"path": "echo", "method": "GET"}]


def test_all_three_proofs_in_order_at_the_poll_interval() -> None:
    script = Script(FakeClock(), ready_at=2.0, log_at=3.0, hooks_at=3.6)
    result = wait(script, webhooks=HOOKS, webhook_base_url="http://127.0.0.1:5678", interval=0.25)
    assert result["ready_s"] == 2.0
    assert result["log_s"] == 3.0
    assert result["webhooks_s"] == 3.75  # the first poll after 3.6
    assert result["registered_count"] == 2
    assert [h["url"] for h in result["webhooks"]] == ["http://127.0.0.1:5678/webhook/orders", "http://127.0.0.1:5678/webhook/echo"]
    assert "2 webhook(s) registered after 3.8 s" in result["msg"]


def test_the_log_is_not_read_before_readiness_nor_webhooks_probed_before_the_log_line() -> None:
    script = Script(FakeClock(), ready_at=1.0, log_at=2.0, hooks_at=0.0)
    wait(script, webhooks=HOOKS, webhook_base_url="http://x", interval=0.5)
    assert script.reads == 3  # at 1.0, 1.5, 2.0
    assert script.probes == 2  # one round of two webhooks, at 2.0


def test_without_a_log_or_webhooks_readiness_is_enough() -> None:
    script = Script(FakeClock(), ready_at=0.5)
    result = wait(script, log=None, interval=0.25)
    assert (result["ready_s"], result["log_s"], result["webhooks_s"], result["log_source"]) == (0.5, None, None, None)
    assert result["msg"] == "n8n ready after 0.5 s"


@pytest.mark.parametrize(
    ("ready_at", "log_at", "hooks_at", "expected"),
    [
        (99, 0, 0, "readiness did not answer 200 within 5 s (last: http://127.0.0.1:5678/healthz/readiness answered HTTP 503)"),
        (1, 99, 0, "ready after 1.0 s, but the scripted log does not say 'Editor is now accessible' within 5 s"),
        (1, 1, 99, "webhooks of active workflows are registered within 5 s: POST orders: POST orders is not registered"),
    ],
    ids=["not-ready", "no-log-line", "webhooks-unregistered"],
)
def test_a_timeout_names_the_missing_proof(ready_at: float, log_at: float, hooks_at: float, expected: str) -> None:
    script = Script(FakeClock(), ready_at=ready_at, log_at=log_at, hooks_at=hooks_at)
    with pytest.raises(wr.WaitReadyError) as caught:
        wait(script, webhooks=HOOKS[:1], webhook_base_url="http://x", timeout=5, interval=0.25)
    assert expected in str(caught.value)
    assert "quiesce_ready_timeout" in str(caught.value)
    assert script.clock.t - 100.0 <= 5.0


def test_webhooks_need_a_base_url() -> None:
    with pytest.raises(ValueError, match="webhook_base_url"):
        wait(Script(FakeClock()), webhooks=HOOKS)


# ------------------------------------------------------------------ log sources
def test_file_log_reads_from_the_offset_and_only_what_was_appended(tmp_path: Path) -> None:
    log = tmp_path / "n8n.log"
    log.write_text("old start\n" + EDITOR)
    source = wr.FileLog(str(log), offset=log.stat().st_size)
    assert wr.EDITOR_LINE not in source.read()  # the previous start's line is before the offset
    with log.open("a") as handle:
        handle.write("n8n ready on ::, port 5678\nEditor is now acc")
    assert wr.EDITOR_LINE not in source.read()
    with log.open("a") as handle:
        handle.write("essible via:\n")  # the line arrived cut in two between polls
    assert wr.EDITOR_LINE in source.read()


def test_file_log_truncated_by_the_start_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "n8n.log"
    log.write_text("x" * 500)
    source = wr.FileLog(str(log), offset=500)
    log.write_text(EDITOR)  # the start command opened it with > instead of >>
    assert wr.EDITOR_LINE in source.read()


def test_file_log_not_written_yet(tmp_path: Path) -> None:
    assert wr.FileLog(str(tmp_path / "missing.log"), offset=10).read() == ""


def test_container_log_is_read_since_the_container_started() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        if argv[1] == "inspect":
            return 0, "2026-12-07T17:30:00.123456789Z\n", ""
        return 0, "", EDITOR  # n8n logs to stderr in part

    assert wr.EDITOR_LINE in wr.ContainerLog("n8n-main", run).read()
    assert calls == [
        ["docker", "inspect", "--format", "{{.State.StartedAt}}", "n8n-main"],
        ["docker", "logs", "--since", "2026-12-07T17:30:00.123456789Z", "n8n-main"],
    ]


def test_container_not_started_yet_reads_nothing() -> None:
    assert wr.ContainerLog("gone", lambda argv: (1, "", "No such object")).read() == ""


def test_journal_is_read_by_the_units_invocation() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        return (0, "5f0c\n", "") if argv[0] == "systemctl" else (0, EDITOR, "")

    assert wr.EDITOR_LINE in wr.JournalLog("n8n", run).read()
    assert calls[1] == ["journalctl", "_SYSTEMD_INVOCATION_ID=5f0c", "--no-pager", "--output", "cat"]
    assert wr.JournalLog("n8n", lambda argv: (0, "\n", "")).read() == ""  # not started: no invocation yet
