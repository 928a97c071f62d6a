"""Busy executions and waiting for them, on an n8n-shaped SQLite database with a fake clock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _executions as ex
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase


def build(path: Path, prefix: str = "") -> DatabaseConfig:
    with sqlite3.connect(path) as conn:
        conn.execute(f'CREATE TABLE "{prefix}workflow_entity" (id TEXT PRIMARY KEY, name TEXT)')
        # 2.x columns; 1.x lacks workflowVersionId and storedAt, which are not read
        conn.execute(
            f'CREATE TABLE "{prefix}execution_entity" (id INTEGER PRIMARY KEY AUTOINCREMENT, "workflowId" TEXT, '
            'finished BOOLEAN, mode TEXT, status TEXT, "startedAt" DATETIME, "createdAt" DATETIME, "workflowVersionId" TEXT)'
        )
        conn.executemany(
            f'INSERT INTO "{prefix}workflow_entity" VALUES (?, ?)',
            [("wSlow", "Lifeboat slow"), ("wEcho", "Lifeboat echo")],
        )
    return DatabaseConfig(type="sqlite", path=str(path), table_prefix=prefix)


def add(config: DatabaseConfig, workflow_id: str, status: str, started: str | None = "2026-11-21 14:31:23.098", ident: int | None = None) -> int:
    with sqlite3.connect(str(config.path)) as conn:
        cursor = conn.execute(
            f'INSERT INTO "{config.table_prefix}execution_entity" (id, "workflowId", finished, mode, status, "startedAt") '
            "VALUES (?, ?, 0, 'webhook', ?, ?)",
            (ident, workflow_id, status, started),
        )
        return int(cursor.lastrowid or 0)


def set_status(config: DatabaseConfig, ident: int, status: str) -> None:
    with sqlite3.connect(str(config.path)) as conn:
        conn.execute(f'UPDATE "{config.table_prefix}execution_entity" SET status = ? WHERE id = ?', (status, ident))


@pytest.mark.parametrize("prefix", ["", "n8n_"])
def test_busy_executions(tmp_path: Path, prefix: str) -> None:
    config = build(tmp_path / "db.sqlite", prefix)
    add(config, "wEcho", "success", ident=1)
    add(config, "wSlow", "running", ident=10)
    add(config, "wSlow", "new", started=None, ident=9)
    add(config, "wGone", "running", ident=11)
    add(config, "wEcho", "waiting", ident=12)
    with N8nDatabase(config, readonly=True) as db:
        busy = ex.busy_executions(db)
        assert busy == [
            {"id": "9", "workflow_id": "wSlow", "workflow_name": "Lifeboat slow", "status": "new", "started_at": None, "mode": "webhook"},
            {
                "id": "10",
                "workflow_id": "wSlow",
                "workflow_name": "Lifeboat slow",
                "status": "running",
                "started_at": "2026-11-21T14:31:23.098Z",
                "mode": "webhook",
            },
            {
                "id": "11",
                "workflow_id": "wGone",
                "workflow_name": None,
                "status": "running",
                "started_at": "2026-11-21T14:31:23.098Z",
                "mode": "webhook",
            },
        ]
        assert [e["id"] for e in ex.busy_executions(db, ["waiting", "running", "running"])] == ["10", "11", "12"]


@pytest.mark.parametrize("statuses", [[], ["runing"], ["new", "paused"]])
def test_unknown_statuses_are_refused(tmp_path: Path, statuses: list[str]) -> None:
    with N8nDatabase(build(tmp_path / "db.sqlite"), readonly=True) as db, pytest.raises(ValueError, match="use some of"):
        ex.busy_executions(db, statuses)


class FakeTime:
    """A clock that only moves when the code under test sleeps; runs a hook at each sleep."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def test_wait_until_idle_reports_everything_it_waited_for(tmp_path: Path) -> None:
    config = build(tmp_path / "db.sqlite")
    first = add(config, "wSlow", "running")
    opened: list[int] = []

    def factory() -> N8nDatabase:
        opened.append(1)
        return N8nDatabase(config, readonly=True)

    def progress(count: int) -> None:
        if count == 1:  # a second execution starts while the first still runs
            add(config, "wEcho", "new", started=None)
        if count == 2:
            set_status(config, first, "success")
        if count == 3:
            set_status(config, first + 1, "success")

    fake = FakeTime(progress)
    result = ex.wait_until_idle(factory, timeout=60, poll_interval=2, clock=fake.clock, sleep=fake.sleep)
    assert result.remaining == []
    assert [(e["id"], e["workflow_name"]) for e in result.waited_for] == [(str(first), "Lifeboat slow"), (str(first + 1), "Lifeboat echo")]
    assert result.waited_seconds == 6.0
    assert fake.sleeps == [2, 2, 2]
    assert len(opened) == 4  # a fresh connection (fresh snapshot) for every poll
    assert result.to_dict()["waited_seconds"] == 6.0


def test_idle_at_once_does_not_sleep(tmp_path: Path) -> None:
    config = build(tmp_path / "db.sqlite")
    add(config, "wEcho", "success")
    fake = FakeTime()
    result = ex.wait_until_idle(lambda: N8nDatabase(config), timeout=30, clock=fake.clock, sleep=fake.sleep)
    assert (result.waited_seconds, result.waited_for, result.remaining, fake.sleeps) == (0.0, [], [], [])


def test_timeout_names_executions_and_workflows(tmp_path: Path) -> None:
    config = build(tmp_path / "db.sqlite")
    ident = add(config, "wSlow", "running")
    fake = FakeTime()
    with pytest.raises(ex.ExecutionsBusyError) as caught:
        ex.wait_until_idle(lambda: N8nDatabase(config), timeout=5, poll_interval=2, clock=fake.clock, sleep=fake.sleep)
    message = str(caught.value)
    assert message.startswith(f"Cannot quiesce n8n: 1 execution still new/running after 5 s: #{ident} 'Lifeboat slow'")
    assert "workflow wSlow, running, started 2026-11-21T14:31:23.098Z" in message
    assert "raise the timeout" in message and "quiesce_drain_force=true" in message and "(timeout is 5 s)" in message
    assert fake.sleeps == [2, 2, 1]  # never sleeps past the deadline
    assert [e["id"] for e in caught.value.result.remaining] == [str(ident)]


def test_timeout_zero_checks_once(tmp_path: Path) -> None:
    config = build(tmp_path / "db.sqlite")
    add(config, "wSlow", "running")
    fake = FakeTime()
    with pytest.raises(ex.ExecutionsBusyError, match="after 0 s"):
        ex.wait_until_idle(lambda: N8nDatabase(config), timeout=0, clock=fake.clock, sleep=fake.sleep, advice="Use force.")
    assert fake.sleeps == []


@pytest.mark.parametrize(("timeout", "poll"), [(-1, 1), (10, 0)])
def test_bad_timing_is_refused(tmp_path: Path, timeout: float, poll: float) -> None:
    config = build(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="timeout must be"):
        ex.wait_until_idle(lambda: N8nDatabase(config), timeout=timeout, poll_interval=poll)


def test_describe_executions_caps_the_list() -> None:
    records = [{"id": str(i), "workflow_id": "w", "workflow_name": "W", "status": "running", "started_at": None} for i in range(13)]
    text = ex.describe_executions(records)
    assert text.count("#") == 10
    assert text.endswith("and 3 more")
