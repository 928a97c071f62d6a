# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small client for n8n's public REST API (``/api/v1``), on Ansible's ``open_url``.

This is a private module_utils (leading underscore): its API may change between
releases. Managed hosts need nothing beyond Python and Ansible (no ``requests``).

What differs between the n8n versions this collection supports (read in their sources):

* every version: ``GET /workflows`` (cursor pagination, ``limit`` <= 250),
  ``GET /workflows/{id}``, ``POST /workflows/{id}/activate`` and ``/deactivate``,
  ``GET /executions?status=&workflowId=`` (cursor pagination);
* 1.123.x already has ``activeVersionId`` on workflows, but ``/activate`` always
  activates the current ``versionId`` (a ``versionId`` in the body is ignored unless the
  draft/publish feature flag is on), and answers ``405`` to ``POST .../publish``;
* 2.38.x and 2.40.x add ``POST /workflows/{id}/publish`` ``{versionId?}`` and
  ``/unpublish`` (``/activate`` and ``/deactivate`` stay as deprecated aliases) and
  ``GET /workflows/{id}/history``; an unknown ``versionId`` answers ``404``.
  2.40.x applies (un)publication asynchronously (a publication outbox): triggers and
  webhooks follow the API answer by a moment.

Every version answers ``503 Database is not ready!`` to every request while its database
connection counts as lost: a ``SELECT 1`` ping that takes over 5 s (a loaded host, a busy
PostgreSQL) marks it lost until the next ping, 2 s later, succeeds. n8n refuses such
requests before handling them, so the client retries them (see ``UNAVAILABLE_WAIT``).

The API key travels only in the ``X-N8N-API-KEY`` header: it never appears in an
error message, even if n8n (or a proxy) echoes it.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import socket
import time
from typing import Any, Callable, Dict, List, Mapping, Optional
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

__metaclass__ = type

API_PREFIX = "/api/v1"
PAGE_LIMIT = 100  # n8n accepts up to 250 per page
MAX_PAGES = 10000
REDACTED = "<redacted>"
# How long a 503 (n8n's "Database is not ready!", or a proxy's "Service Unavailable") is retried
# before it counts as an error, and the longest pause between tries.
UNAVAILABLE_WAIT = 90.0
UNAVAILABLE_MAX_PAUSE = 8.0

HINT_401 = (
    "Check api_key (n8n API keys are signed with the instance key: after a restore under "
    "another key or a key rotation they must be re-issued)."
)
HINT_403 = (
    "The API key lacks a scope this needs (n8n 2.x keys carry scopes: workflow:list, "
    "workflow:read, workflow:activate, workflow:deactivate, execution:list), or its owner "
    "cannot reach the workflow's project."
)
HINT_404_API = (
    "Check api_url: n8n answers its public API under <api_url>/api/v1 unless "
    "N8N_PUBLIC_API_DISABLED is set."
)
HINT_404_WORKFLOW = "Check the workflow id: it must exist in this instance (and, for a version, in its history)."
HINT_409 = "n8n refused the change (a webhook path already used by another workflow, or an open review): resolve it in n8n and re-run."
HINT_5XX = "n8n failed to handle the request: see n8n's log."
HINT_503 = (
    "n8n answers 503 while it counts its database connection as lost (a database ping slower "
    "than 5 s) or a proxy in front of it has no backend: check the database's health and the "
    "host's load, then re-run."
)


class N8nApiError(Exception):
    """A public API call failed; ``str()`` says what failed and what to do next."""

    def __init__(self, message: str, status: Optional[int] = None, n8n_message: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.n8n_message = n8n_message


def _n8n_message(raw: bytes) -> str:
    """The ``message`` of an n8n error body, else a short excerpt of the body."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        text = data["message"]
    elif text.lower().startswith("<!doctype") or text.lower().startswith("<html"):
        text = "(an HTML page)"
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _hint(status: int, not_found_hint: str) -> str:
    hints = {401: HINT_401, 403: HINT_403, 404: not_found_hint, 409: HINT_409, 503: HINT_503}
    return hints.get(status, HINT_5XX if status >= 500 else "")


def _route_missing(error: N8nApiError) -> bool:
    """Whether an error may mean "no such route" (then the older endpoint is tried).

    405: 1.x routes ``POST .../publish`` to its GET-only ``/workflows/{id}/{versionId}``.
    404 "not found": an unknown route (or, on 1.x, an unknown workflow, which the older
    endpoint then reports). Other 404s ("Version not found", 2.x's permission wording)
    are real answers of an existing route.
    """
    if error.status == 405:
        return True
    return error.status == 404 and (error.n8n_message or "").strip().lower() in ("not found", "")


def workflow_path(workflow_id: str, *rest: str) -> str:
    return "/".join(["/workflows", quote(str(workflow_id), safe="")] + [quote(part, safe="") for part in rest])


class N8nApi:
    """n8n's public API with one API key. Methods raise :class:`N8nApiError`."""

    def __init__(
        self,
        url: str,
        api_key: str,
        validate_certs: bool = True,
        timeout: float = 30,
        *,
        unavailable_wait: float = UNAVAILABLE_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url:
            raise N8nApiError("Cannot reach n8n's public API: api_url is empty. Give the instance's base URL, for example http://127.0.0.1:5678.")
        if not api_key:
            raise N8nApiError("Cannot call n8n's public API: api_key is empty. Create an API key in n8n (Settings > n8n API) and pass it as api_key.")
        base = url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        self._api_key = api_key
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.unavailable_wait = unavailable_wait
        self._sleep = sleep
        self.publish_supported: Optional[bool] = None  # learnt from the first /publish answer
        self.last_endpoint: Optional[str] = None  # e.g. "POST /publish": the route the last state change took
        self._major: Optional[int] = None

    def __repr__(self) -> str:  # never show the key
        return "N8nApi(%r)" % self.base_url

    # ------------------------------------------------------------------ HTTP
    def scrub(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED) if self._api_key else text

    def url(self, path: str, params: Optional[Mapping[str, Any]] = None) -> str:
        url = self.base_url + API_PREFIX + path
        query = {k: ("true" if v is True else "false" if v is False else v) for k, v in (params or {}).items() if v is not None}
        return url + ("?" + urlencode(query) if query else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
        not_found_hint: str = HINT_404_API,
    ) -> Any:
        """One call; ``action`` completes "Cannot <action>: ..." in errors (e.g. "get workflow 7").

        A 503 is retried, with growing pauses, for up to ``unavailable_wait`` seconds (see the
        module docstring): n8n did not handle the request, so repeating it is safe.
        """
        waited = 0.0
        pause = 1.0
        while True:
            try:
                return self._request_once(method, path, action=action, params=params, body=body, not_found_hint=not_found_hint)
            except N8nApiError as error:
                if error.status != 503 or waited + pause > self.unavailable_wait:
                    if error.status == 503 and waited:
                        text = "%s (Still unavailable after %d s of retries.)" % (error, waited)
                        raise N8nApiError(text, status=503, n8n_message=error.n8n_message) from None
                    raise
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, UNAVAILABLE_MAX_PAUSE)

    def _request_once(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
        not_found_hint: str = HINT_404_API,
    ) -> Any:
        headers = {"X-N8N-API-KEY": self._api_key, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = self.url(path, params)
        try:
            response = open_url(
                url,
                data=data,
                headers=headers,
                method=method,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                follow_redirects="safe",
                use_proxy=True,
            )
            raw = response.read()
        except HTTPError as error:
            raw_error = error.read() if hasattr(error, "read") else b""
            message = self.scrub(_n8n_message(raw_error or b""))
            hint = _hint(error.code, not_found_hint)
            text = "Cannot %s: HTTP %d %s." % (action, error.code, message or error.reason)
            raise N8nApiError(self.scrub(text + (" " + hint if hint else "")), status=error.code, n8n_message=message) from None
        except SSLValidationError as error:
            text = "Cannot %s: TLS certificate of %s not trusted (%s). Install the CA on the managed host or set validate_certs=false."
            raise N8nApiError(self.scrub(text % (action, self.base_url, error))) from None
        except (URLError, UrlsConnectionError, socket.timeout, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, socket.timeout) or "timed out" in str(reason):
                raise N8nApiError(
                    "Cannot %s: n8n at %s did not answer within %s s. Check that n8n is up, or raise api_timeout." % (action, self.base_url, self.timeout)
                ) from None
            text = "Cannot %s: cannot reach n8n at %s (%s). Check api_url and that n8n is running."
            raise N8nApiError(self.scrub(text % (action, self.base_url, reason))) from None
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise N8nApiError(
                self.scrub(
                    "Cannot %s: %s answered something that is not JSON (%s). Check that api_url points at n8n itself, not at a login page or proxy."
                    % (action, url.split("?")[0], _n8n_message(raw))
                )
            ) from None

    def paginate(self, path: str, action: str, params: Optional[Mapping[str, Any]] = None, limit: int = PAGE_LIMIT) -> List[Dict[str, Any]]:
        """All items of a cursor-paginated list endpoint (``{data, nextCursor}``)."""
        items: List[Dict[str, Any]] = []
        seen = set()
        cursor = None
        for _page in range(MAX_PAGES):
            query = dict(params or {}, limit=limit)
            if cursor:
                query["cursor"] = cursor
            page = self.request("GET", path, action=action, params=query)
            if not isinstance(page, Mapping) or not isinstance(page.get("data"), list):
                raise N8nApiError("Cannot %s: n8n answered without a data list. Check that api_url points at n8n's public API." % action)
            items.extend(page["data"])
            cursor = page.get("nextCursor")
            if not cursor or cursor in seen:
                break
            seen.add(cursor)
        return items

    # ------------------------------------------------------------- workflows
    def list_workflows(self, active: Optional[bool] = None) -> List[Dict[str, Any]]:
        return self.paginate("/workflows", "list workflows", {"active": active, "excludePinnedData": True})

    def get_workflow(self, workflow_id: str) -> Dict[str, Any]:
        result: Dict[str, Any] = self.request(
            "GET", workflow_path(workflow_id), action="get workflow %s" % workflow_id, params={"excludePinnedData": True}, not_found_hint=HINT_404_WORKFLOW
        )
        return result

    def activate(self, workflow_id: str, version_id: Optional[str] = None) -> Dict[str, Any]:
        """``POST /activate`` (1.x; a deprecated alias of /publish on 2.x)."""
        body = {"versionId": version_id} if version_id else {}
        result: Dict[str, Any] = self.request(
            "POST", workflow_path(workflow_id, "activate"), action="activate workflow %s" % workflow_id, body=body, not_found_hint=HINT_404_WORKFLOW
        )
        self.last_endpoint = "POST /activate"
        return result

    def deactivate(self, workflow_id: str) -> Dict[str, Any]:
        result: Dict[str, Any] = self.request(
            "POST", workflow_path(workflow_id, "deactivate"), action="deactivate workflow %s" % workflow_id, not_found_hint=HINT_404_WORKFLOW
        )
        self.last_endpoint = "POST /deactivate"
        return result

    def publish(self, workflow_id: str, version_id: Optional[str] = None) -> Dict[str, Any]:
        """``POST /publish {versionId}`` (2.x); where that route does not exist, ``/activate``."""
        if self.publish_supported is not False:
            body = {"versionId": version_id} if version_id else {}
            try:
                result: Dict[str, Any] = self.request(
                    "POST", workflow_path(workflow_id, "publish"), action="publish workflow %s" % workflow_id, body=body, not_found_hint=HINT_404_WORKFLOW
                )
            except N8nApiError as error:
                if not _route_missing(error):
                    raise
                if error.status == 405:
                    self.publish_supported = False
            else:
                self.publish_supported = True
                self.last_endpoint = "POST /publish"
                return result
        return self.activate(workflow_id, version_id)

    def unpublish(self, workflow_id: str) -> Dict[str, Any]:
        """``POST /unpublish`` (2.x); where that route does not exist, ``/deactivate``."""
        if self.publish_supported is not False:
            try:
                result: Dict[str, Any] = self.request(
                    "POST", workflow_path(workflow_id, "unpublish"), action="unpublish workflow %s" % workflow_id, not_found_hint=HINT_404_WORKFLOW
                )
            except N8nApiError as error:
                if not _route_missing(error):
                    raise
                if error.status == 405:
                    self.publish_supported = False
            else:
                self.last_endpoint = "POST /unpublish"
                return result
        return self.deactivate(workflow_id)

    def detect_major(self, workflow: Mapping[str, Any]) -> int:
        """n8n's major version, from a workflow as the API returns it.

        Workflows without ``activeVersionId`` come from 1.x. 1.123.x carries the field
        too, so the tie is broken by ``GET /workflows/{id}/history`` (2.x only; 1.x
        routes it to ``/workflows/{id}/{versionId}`` and answers 404).
        """
        if self._major is not None:
            return self._major
        if "activeVersionId" not in workflow:
            self._major = 1
            return 1
        workflow_id = str(workflow.get("id"))
        try:
            self.request("GET", workflow_path(workflow_id, "history"), action="read the history of workflow %s" % workflow_id, params={"limit": 1})
        except N8nApiError as error:
            if error.status not in (400, 404, 405):
                raise
            self._major = 1
        else:
            self._major = 2
        return self._major

    @property
    def major(self) -> Optional[int]:
        return self._major

    # ------------------------------------------------------------ executions
    def list_executions(self, status: Optional[str] = None, workflow_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Executions (without their data), optionally by status and workflow."""
        action = "list %sexecutions" % (status + " " if status else "")
        return self.paginate("/executions", action, {"status": status, "workflowId": workflow_id, "includeData": False})
