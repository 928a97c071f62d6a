# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: one JSON line per finished task (name, start, end), to BENCH_TIMER_FILE.

Not shipped (bench/ is build-ignored). It records times and, for the backup's
``backup_result`` fact, the downtime the role measured; never a task's other results.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: bench_timer
    type: aggregate
    short_description: task start and end times for the benchmarks
    description: writes one JSON line per task to the file named by BENCH_TIMER_FILE
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]  # ansible-core ships no types
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMER_FILE")
        self._starts: dict[str, float] = {}

    def _write(self, record: dict[str, Any]) -> None:
        if self._path:
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._starts[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._starts[task._uuid] = time.time()

    def _done(self, result: Any, status: str) -> None:
        task = result._task
        record: dict[str, Any] = {"name": task.get_name(), "start": self._starts.get(task._uuid), "end": time.time(), "status": status}
        facts = (result._result or {}).get("ansible_facts") or {}
        if "backup_result" in facts:
            record["downtime_s"] = facts["backup_result"].get("downtime_s")
        for key in ("duration_s", "elapsed_seconds"):
            if key in (result._result or {}):
                record[key] = result._result[key]
        self._write(record)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._done(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._done(result, "unreachable")
