"""n8n_wait_ready against a real n8n start, through ansible-playbook (newest pinned version, SQLite).

* Called before n8n starts, it waits through the start: readiness, then the log line of *this*
  start (the log file read from its size once the previous process had stopped), then the seeded
  echo webhook registered.
* The line of an earlier start does not count: read from the log's current end it times out,
  naming the log. In check mode (nothing was started) the line is not waited for.
* A webhook that is not registered (the seeded inactive workflow's) fails the wait, named.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from n8n_harness import pinned_versions, seed
from n8n_harness.ansible import run_module
from n8n_harness.seed import ECHO_PATH, INACTIVE_PATH

WAIT = "lifeboat.n8n.n8n_wait_ready"


def test_wait_ready_through_a_real_start(n8n_factory) -> None:
    instance = n8n_factory(pinned_versions()[0])
    instance.start()
    seed(instance)
    instance.stop()
    offset = instance.log_path.stat().st_size
    args: dict[str, Any] = {
        "url": instance.url,
        "log_file": str(instance.log_path),
        "log_offset": offset,
        "webhooks": [{"path": ECHO_PATH, "method": "GET"}],
        "webhook_base_url": instance.url,
        "timeout": 240,
    }

    waited: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: waited.update(result=run_module(WAIT, args)[0]))
    waiter.start()
    time.sleep(3)  # the module is polling a stopped n8n by now (or soon): it has to wait
    instance.start()
    waiter.join(timeout=300)
    result = waited["result"]
    assert not result.get("failed"), result.get("msg")
    assert 0 < result["ready_s"] <= result["log_s"] <= result["webhooks_s"]
    assert result["registered_count"] == 1 and result["webhooks"][0]["registered"]
    assert result["log_source"] == f"log file {instance.log_path} from byte {offset}"

    # Only this start's line counts: from the log's end (no start since) it is never found.
    end = instance.log_path.stat().st_size
    result, _run = run_module(WAIT, {**args, "log_offset": end, "timeout": 3})
    assert result.get("failed")
    assert "does not say 'Editor is now accessible' within 3 s" in result["msg"], result["msg"]
    assert result["ready_s"] is not None and result["log_s"] is None

    # Check mode started nothing, so it does not wait for a start's line.
    result, _run = run_module(WAIT, {**args, "log_offset": end, "timeout": 30}, check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["log_s"] is None and result["registered_count"] == 1

    # The inactive workflow's webhook is not registered: the wait fails, naming it.
    hooks = [{"path": ECHO_PATH, "method": "GET"}, {"path": INACTIVE_PATH, "method": "POST"}]
    result, _run = run_module(WAIT, {**args, "webhooks": hooks, "timeout": 3})
    assert result.get("failed")
    assert f"POST {INACTIVE_PATH}" in result["msg"] and "registered within 3 s" in result["msg"], result["msg"]
    assert result["registered_count"] == 1
