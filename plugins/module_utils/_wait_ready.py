# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Wait until a started n8n serves again (private module_utils).

"Ready" takes three proofs, in the order n8n gives them:

1. ``/healthz/readiness`` answers 200: the database is up (n8n answers it during its start,
   before triggers exist);
2. the log of *this* start says ``Editor is now accessible``: n8n has activated its workflows
   (webhooks, schedules, pollers);
3. optionally, every active webhook answers the OPTIONS probe of ``_webhook_probe`` as
   registered (n8n 2.x may take a moment more after the log line).

"This start" is told apart from earlier ones without comparing clocks: a log file is read
from the size it had once the previous process had stopped, a container's log from its
``State.StartedAt``, a systemd unit's journal by its ``InvocationID``.

One call polls all three at a short interval. The quiesce role did this in three or four
tasks polling every 2 s; inside a backup's downtime each task costs 0.2 to 0.4 s.
"""

from __future__ import absolute_import, annotations, division, print_function

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ._webhook_probe import DEFAULT_WEBHOOK_PATH, Prober, options_probe, probe_webhooks

__metaclass__ = type

EDITOR_LINE = "Editor is now accessible"
READINESS_PATH = "/healthz/readiness"

# run(argv) -> (rc, stdout, stderr), as AnsibleModule.run_command returns it.
Runner = Callable[[List[str]], Tuple[int, str, str]]


class WaitReadyError(Exception):
    """n8n did not become ready in time; ``result`` holds what was reached."""

    def __init__(self, message: str, result: Dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


class LogSource:
    """The log lines of one n8n start, re-read on every poll."""

    description = ""

    def read(self) -> str:
        raise NotImplementedError


class FileLog(LogSource):
    """A log file, from ``offset`` (its size once the previous process had stopped).

    A file now shorter than ``offset`` was truncated or rotated by the start: read it whole.
    Each poll reads only what was appended since the previous one.
    """

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = max(int(offset), 0)
        self.description = "log file %s from byte %d" % (path, self.offset)
        self._position: Optional[int] = None
        self._seen = ""

    def read(self) -> str:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return self._seen  # not written yet
        if self._position is None or size < self._position:
            self._position = self.offset if size >= self.offset else 0
            self._seen = ""
        with open(self.path, "rb") as handle:
            handle.seek(self._position)
            chunk = handle.read()
        self._position += len(chunk)
        # Only the tail can hold the start of a line cut in two between polls.
        self._seen = self._seen[-len(EDITOR_LINE) :] + chunk.decode("utf-8", "replace")
        return self._seen


class ContainerLog(LogSource):
    """``docker logs`` of a container since its current ``State.StartedAt``."""

    def __init__(self, container: str, run: Runner, docker: str = "docker") -> None:
        self.container = container
        self.run = run
        self.docker = docker
        self.description = "docker logs of container %s since its start" % container

    def read(self) -> str:
        rc, started, _err = self.run([self.docker, "inspect", "--format", "{{.State.StartedAt}}", self.container])
        if rc != 0 or not started.strip():
            return ""
        rc, out, err = self.run([self.docker, "logs", "--since", started.strip(), self.container])
        return (out + err) if rc == 0 else ""


class JournalLog(LogSource):
    """The journal of a systemd unit's current run (its ``InvocationID``)."""

    def __init__(self, unit: str, run: Runner) -> None:
        self.unit = unit
        self.run = run
        self.description = "journal of unit %s since its start" % unit

    def read(self) -> str:
        rc, invocation, _err = self.run(["systemctl", "show", "--property", "InvocationID", "--value", self.unit])
        if rc != 0 or not invocation.strip():
            return ""
        rc, out, _err = self.run(["journalctl", "_SYSTEMD_INVOCATION_ID=%s" % invocation.strip(), "--no-pager", "--output", "cat"])
        return out if rc == 0 else ""


def readiness(url: str, timeout: float = 5, validate_certs: bool = True) -> Tuple[bool, str]:
    """Whether ``<url>/healthz/readiness`` answers 200; else what it answered."""
    target = url.rstrip("/") + READINESS_PATH
    try:
        response = open_url(target, method="GET", timeout=timeout, validate_certs=validate_certs, follow_redirects="none")
        status = int(response.getcode())
    except HTTPError as error:
        status = error.code
    except (URLError, UrlsConnectionError, SSLValidationError, socket.timeout, OSError) as error:
        return False, "cannot reach %s: %s" % (target, getattr(error, "reason", error))
    return status == 200, "%s answered HTTP %s" % (target, status)


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_ready(
    url: str,
    *,
    log: Optional[LogSource] = None,
    webhooks: Sequence[Mapping[str, Any]] = (),
    webhook_base_url: Optional[str] = None,
    webhook_path: str = DEFAULT_WEBHOOK_PATH,
    timeout: float = 120,
    interval: float = 0.25,
    validate_certs: bool = True,
    check_ready: Callable[[str, float, bool], Tuple[bool, str]] = readiness,
    prober: Prober = options_probe,
    clock: Optional[Clock] = None,
) -> Dict[str, Any]:
    """Poll until n8n is ready, this start's log says so, and ``webhooks`` are registered.

    Returns ``{ready_s, log_s, webhooks_s, webhooks, registered_count, log_source, msg}``: the
    seconds after the call at which each proof held (None when not asked for). Raises
    WaitReadyError at ``timeout`` seconds, naming the proof that is missing.
    """
    clock = clock or Clock()
    started = clock.now()
    deadline = started + max(float(timeout), 0.0)
    result: Dict[str, Any] = {
        "ready_s": None,
        "log_s": None,
        "webhooks_s": None,
        "webhooks": [],
        "registered_count": 0,
        "log_source": log.description if log is not None else None,
    }
    if webhooks and not webhook_base_url:
        raise ValueError("webhook_base_url must be where n8n's webhooks answer when webhooks are to be probed")
    last = ""
    while True:
        if result["ready_s"] is None:
            ok, last = check_ready(url, min(5.0, max(deadline - clock.now(), 0.5)), validate_certs)
            if ok:
                result["ready_s"] = round(clock.now() - started, 3)
        if result["ready_s"] is not None and log is not None and result["log_s"] is None and EDITOR_LINE in log.read():
            result["log_s"] = round(clock.now() - started, 3)
        activated = result["ready_s"] is not None and (log is None or result["log_s"] is not None)
        if activated and webhooks:
            hooks = probe_webhooks(
                str(webhook_base_url),
                webhooks,
                webhook_path=webhook_path,
                timeout=min(10.0, max(deadline - clock.now(), 0.5)),
                validate_certs=validate_certs,
                prober=prober,
            )
            result["webhooks"] = hooks
            result["registered_count"] = sum(1 for h in hooks if h["registered"])
            if all(h["ok"] for h in hooks):
                result["webhooks_s"] = round(clock.now() - started, 3)
        if activated and (not webhooks or result["webhooks_s"] is not None):
            result["msg"] = _summary(result, len(webhooks))
            return result
        if clock.now() + interval > deadline:
            raise WaitReadyError(_timeout_message(result, last, log, timeout), result)
        clock.sleep(interval)


def _summary(result: Mapping[str, Any], webhook_count: int) -> str:
    parts = ["n8n ready after %.1f s" % result["ready_s"]]
    if result["log_s"] is not None:
        parts.append("workflows activated after %.1f s" % result["log_s"])
    if webhook_count:
        parts.append("%d webhook(s) registered after %.1f s" % (webhook_count, result["webhooks_s"]))
    return ", ".join(parts)


def _timeout_message(result: Mapping[str, Any], last: str, log: Optional[LogSource], timeout: float) -> str:
    advice = "Check n8n's log; raise the timeout (the quiesce role's quiesce_ready_timeout) if n8n only starts slowly."
    if result["ready_s"] is None:
        return "Cannot confirm that n8n is ready: readiness did not answer 200 within %s s (last: %s). %s" % (timeout, last, advice)
    if log is not None and result["log_s"] is None:
        return (
            "Cannot confirm that n8n activated its workflows: ready after %.1f s, but the %s does not say %r within %s s, "
            "so its triggers may not be registered. %s" % (result["ready_s"], log.description, EDITOR_LINE, timeout, advice)
        )
    failures = ["%s %s: %s" % (h["method"], h["path"], h["error"]) for h in result["webhooks"] if not h["ok"]]
    return (
        "Cannot confirm that the webhooks of active workflows are registered within %s s: %s. "
        "A registered webhook needs its workflow active (published); if none answers, check the webhook base URL "
        "and N8N_ENDPOINT_WEBHOOK. %s" % (timeout, "; ".join(failures), advice)
    )
