# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Executions in flight, and waiting until there are none (private module_utils).

A backup taken while executions run captures them half-done, and a stop interrupts them (they
come back ``crashed``). Before stopping n8n, the quiesce step waits until no execution is
``new`` (created, not started yet) or ``running``. ``waiting`` executions (parked in a Wait
node) survive a restart and are not waited for by default.

``execution_entity`` on both majors has ``id, "workflowId", status, mode, "startedAt"``
(``startedAt`` is NULL while an execution is ``new``); 2.x adds ``"workflowVersionId"``,
``"storedAt"`` and size columns, which are not needed here.
"""

from __future__ import absolute_import, annotations, division, print_function

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ._db import N8nDatabase
from ._migrations import iso_timestamp

__metaclass__ = type

BUSY_STATUSES = ("new", "running")
EXECUTION_STATUSES = ("new", "running", "waiting", "success", "error", "canceled", "crashed", "unknown")
# What to do on a timeout, appended to the message (a role may pass its own advice).
DEFAULT_ADVICE = (
    "Wait for them and retry, raise the timeout (the quiesce role's quiesce_drain_timeout), or set "
    "quiesce_drain_force=true to stop n8n anyway (interrupted executions come back as crashed)"
)
_LISTED = 10  # executions named in a message before "and N more"


class ExecutionsBusyError(Exception):
    """Executions were still busy at the deadline; ``result`` says which."""

    def __init__(self, message: str, result: "WaitResult") -> None:
        super().__init__(message)
        self.result = result


@dataclass
class WaitResult:
    waited_seconds: float
    waited_for: list[dict[str, Any]] = field(default_factory=list)  # every busy execution seen
    remaining: list[dict[str, Any]] = field(default_factory=list)  # still busy at the end

    def to_dict(self) -> dict[str, Any]:
        return {"waited_seconds": self.waited_seconds, "waited_for": self.waited_for, "remaining": self.remaining}


def _check_statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(str(s) for s in statuses))
    unknown = [s for s in chosen if s not in EXECUTION_STATUSES]
    if not chosen or unknown:
        raise ValueError(
            "Cannot look for executions with statuses %s: use some of %s" % (list(chosen), ", ".join(EXECUTION_STATUSES))
        )
    return chosen


def _sort_key(record: dict[str, Any]) -> tuple[int, str]:
    ident = str(record["id"])
    return (int(ident), "") if ident.isdigit() else (0, ident)


def busy_executions(db: N8nDatabase, statuses: Sequence[str] = BUSY_STATUSES) -> list[dict[str, Any]]:
    """Executions in ``statuses``, oldest first.

    ``[{"id": "3", "workflow_id": "jjCW…", "workflow_name": "Lifeboat slow", "status": "running",
    "started_at": "2026-11-21T14:31:23.098Z", "mode": "webhook"}]``; ``started_at`` is None for
    ``new`` executions, ``workflow_name`` None when the workflow is gone.
    """
    chosen = _check_statuses(statuses)
    # Identifiers come from db.table() (validated, quoted); the statuses are bound parameters.
    query = (  # noqa: S608
        'SELECT e.id, e."workflowId", w.name, e.status, e."startedAt", e.mode '
        'FROM %s e LEFT JOIN %s w ON w.id = e."workflowId" WHERE e.status IN (%s)'
    ) % (db.table("execution_entity"), db.table("workflow_entity"), ", ".join("?" * len(chosen)))
    records = [
        {
            "id": str(row[0]),
            "workflow_id": None if row[1] is None else str(row[1]),
            "workflow_name": None if row[2] is None else str(row[2]),
            "status": str(row[3]),
            "started_at": iso_timestamp(row[4]),
            "mode": None if row[5] is None else str(row[5]),
        }
        for row in db.fetchall(query, chosen)
    ]
    return sorted(records, key=_sort_key)


def describe_executions(records: Sequence[dict[str, Any]], limit: int = _LISTED) -> str:
    """``#3 'Lifeboat slow' (workflow jjCW…, running, started …), …`` for messages."""
    parts = []
    for record in records[:limit]:
        since = ", started %s" % record["started_at"] if record.get("started_at") else ""
        parts.append(
            "#%s %r (workflow %s, %s%s)"
            % (record["id"], record.get("workflow_name") or "?", record.get("workflow_id"), record["status"], since)
        )
    if len(records) > limit:
        parts.append("and %d more" % (len(records) - limit))
    return ", ".join(parts)


def timeout_message(result: WaitResult, timeout: float, statuses: Sequence[str], advice: str = DEFAULT_ADVICE) -> str:
    count = len(result.remaining)
    return "Cannot quiesce n8n: %d execution%s still %s after %s s: %s. %s (timeout is %s s)." % (
        count,
        "" if count == 1 else "s",
        "/".join(statuses),
        _seconds(result.waited_seconds),
        describe_executions(result.remaining),
        advice,
        _seconds(timeout),
    )


def _seconds(value: float) -> str:
    return ("%.1f" % value).rstrip("0").rstrip(".")


def wait_until_idle(
    db_factory: Callable[[], N8nDatabase],
    timeout: float,
    poll_interval: float = 2.0,
    statuses: Sequence[str] = BUSY_STATUSES,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    advice: str = DEFAULT_ADVICE,
    on_poll: Optional[Callable[[list[dict[str, Any]]], None]] = None,
) -> WaitResult:
    """Poll until no execution is in ``statuses``; raise :class:`ExecutionsBusyError` at ``timeout``.

    Every poll opens a fresh connection from ``db_factory`` (a new snapshot: a long-lived SQLite
    reader or PostgreSQL transaction could keep seeing old rows). ``timeout=0`` checks once.
    """
    chosen = _check_statuses(statuses)
    if timeout < 0 or poll_interval <= 0:
        raise ValueError("Cannot wait for executions: timeout must be >= 0 and poll_interval > 0 (got %s, %s)" % (timeout, poll_interval))
    start = clock()
    seen: dict[str, dict[str, Any]] = {}
    while True:
        with db_factory() as db:
            busy = busy_executions(db, chosen)
        for record in busy:
            seen[record["id"]] = record  # the latest state of each
        if on_poll is not None:
            on_poll(busy)
        elapsed = round(max(0.0, clock() - start), 3)
        waited_for = sorted(seen.values(), key=_sort_key)
        if not busy:
            return WaitResult(waited_seconds=elapsed, waited_for=waited_for, remaining=[])
        if elapsed >= timeout:
            result = WaitResult(waited_seconds=elapsed, waited_for=waited_for, remaining=busy)
            raise ExecutionsBusyError(timeout_message(result, timeout, chosen, advice), result)
        sleep(min(poll_interval, timeout - elapsed))
