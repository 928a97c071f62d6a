# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Prove from outside that n8n's production webhooks are (or are not) registered.

This is a private module_utils (leading underscore): its API may change between releases.

The probe is a CORS preflight: ``OPTIONS <base>/<webhook_path>/<path>`` with an ``Origin``
and ``Access-Control-Request-Method: <METHOD>``. n8n's webhook handler answers it without
starting an execution: ``204`` with ``Access-Control-Allow-Methods: OPTIONS, <METHOD>, ...``
when that production webhook is registered; when it is not, the header lists only the
methods registered at that path (maybe just ``OPTIONS``) and the status is an error (500).
Measured on n8n 1.123, 2.38 and 2.40 (``setupCorsHeaders`` in webhook-request-handler).
An answer without that header did not come from n8n's webhook handler (wrong base URL or
prefix, a proxy answering preflights itself): it proves nothing either way.

Round-trip requests, by contrast, call the webhook for real: they start a production
execution of the workflow, exactly as a caller would.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

__metaclass__ = type

PROBE_ORIGIN = "https://lifeboat-probe.invalid"
WEBHOOK_NODE_TYPES = ("n8n-nodes-base.webhook",)
DEFAULT_WEBHOOK_PATH = "webhook"
METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
_PATH_SAFE = "/:@-._~!$&'()*+,;="


class WebhookProbeError(ValueError):
    """Probe options are not shaped as documented."""


def webhook_url(base_url: str, webhook_path: str, path: str) -> str:
    """``<base_url>/<webhook_path>/<path>``, tolerant of slashes on either side."""
    parts = [base_url.rstrip("/")]
    prefix = (webhook_path or "").strip("/")
    if prefix:
        parts.append(prefix)
    parts.append(quote(str(path).lstrip("/"), safe=_PATH_SAFE))
    return "/".join(parts)


def _node_methods(parameters: Mapping[str, Any]) -> List[str]:
    method = parameters.get("httpMethod")
    if parameters.get("multipleMethods"):
        methods = method if isinstance(method, list) else ["GET", "POST"]
    else:
        methods = [method or "GET"]
    return [str(m).upper() for m in methods if isinstance(m, str) and not m.startswith("=")]


def workflow_webhooks(workflow: Mapping[str, Any], use_active_version: bool = True) -> List[Dict[str, str]]:
    """Static production webhooks ``[{path, method, node}]`` of a workflow as the API returns it.

    The nodes of the published version (``activeVersion.nodes``) when there is one and
    ``use_active_version``, else the workflow's current nodes. Only Webhook nodes with a
    fixed path: expression paths and dynamic ones (``:param``) cannot be probed literally.
    """
    nodes = None
    active_version = workflow.get("activeVersion")
    if use_active_version and isinstance(active_version, Mapping):
        nodes = active_version.get("nodes")
    if not isinstance(nodes, list):
        nodes = workflow.get("nodes")
    hooks: List[Dict[str, str]] = []
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, Mapping) or node.get("type") not in WEBHOOK_NODE_TYPES or node.get("disabled"):
            continue
        parameters = node.get("parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        path = parameters.get("path") or node.get("webhookId")
        if not isinstance(path, str) or not path or path.startswith("=") or ":" in path:
            continue
        for method in _node_methods(parameters):
            hook = {"path": path.strip("/"), "method": method, "node": str(node.get("name") or "")}
            if hook not in hooks:
                hooks.append(hook)
    return hooks


@dataclass
class ProbeAnswer:
    status: Optional[int]
    allowed_methods: List[str] = field(default_factory=list)
    registered: Optional[bool] = None  # None: the answer did not come from n8n's webhook handler
    error: Optional[str] = None


Prober = Callable[[str, str, float, bool], ProbeAnswer]


def _allowed(headers: Any) -> Optional[List[str]]:
    value = headers.get("Access-Control-Allow-Methods") if headers is not None else None
    if value is None:
        return None
    return [part.strip().upper() for part in str(value).split(",") if part.strip()]


def options_probe(url: str, method: str, timeout: float = 10, validate_certs: bool = True) -> ProbeAnswer:
    """One CORS preflight; never starts an execution."""
    headers = {"Origin": PROBE_ORIGIN, "Access-Control-Request-Method": method.upper()}
    try:
        response = open_url(url, method="OPTIONS", headers=headers, timeout=timeout, validate_certs=validate_certs, follow_redirects="none")
        status = int(response.getcode())
        allowed = _allowed(response.headers)
    except HTTPError as error:
        status = error.code
        allowed = _allowed(error.headers)
    except (URLError, UrlsConnectionError, SSLValidationError, socket.timeout, OSError) as error:
        reason = getattr(error, "reason", error)
        return ProbeAnswer(None, error="cannot reach %s: %s" % (url, reason))
    if allowed is None:
        return ProbeAnswer(
            status,
            error="HTTP %s without Access-Control-Allow-Methods: not n8n's webhook handler. Check base_url and webhook_path (N8N_ENDPOINT_WEBHOOK)" % status,
        )
    registered = 200 <= status < 300 and method.upper() in allowed
    return ProbeAnswer(status, [m for m in allowed if m != "OPTIONS"], registered)


def _hook_entry(spec: Mapping[str, Any], index: int, default_expect: bool) -> Dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise WebhookProbeError("webhooks[%d] must be a dict {path, method}, got %r (%s)" % (index, spec, type(spec).__name__))
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        raise WebhookProbeError("webhooks[%d].path must be a non-empty string, got %r (%s)" % (index, path, type(path).__name__))
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise WebhookProbeError("webhooks[%d].method must be one of %s, got %r" % (index, ", ".join(METHODS), spec.get("method")))
    expect = spec.get("expect_registered")
    entry: Dict[str, Any] = {"path": path.strip("/"), "method": method}
    for key in ("workflow_id", "node"):
        if spec.get(key):
            entry[key] = spec[key]
    entry["expect_registered"] = default_expect if expect is None else bool(expect)
    return entry


def probe_webhooks(
    base_url: str,
    webhooks: Sequence[Mapping[str, Any]],
    *,
    webhook_path: str = DEFAULT_WEBHOOK_PATH,
    expect_registered: bool = True,
    timeout: float = 10,
    attempts: int = 1,
    delay: float = 1.0,
    validate_certs: bool = True,
    prober: Prober = options_probe,
    sleep: Callable[[float], None] = time.sleep,
) -> List[Dict[str, Any]]:
    """Probe each webhook until it is as expected, or ``attempts`` rounds have run.

    Returns ``[{path, method, url, expect_registered, registered, ok, status,
    allowed_methods, attempts, error}]`` in input order.
    """
    results = [_hook_entry(spec, i, expect_registered) for i, spec in enumerate(webhooks)]
    for entry in results:
        entry.update(url=webhook_url(base_url, webhook_path, entry["path"]), registered=None, ok=False, status=None, allowed_methods=[], attempts=0, error=None)
    for round_ in range(max(1, attempts)):
        pending = [entry for entry in results if not entry["ok"]]
        if not pending:
            break
        if round_:
            sleep(delay)
        for entry in pending:
            answer = prober(entry["url"], entry["method"], timeout, validate_certs)
            entry.update(
                registered=answer.registered,
                status=answer.status,
                allowed_methods=answer.allowed_methods,
                attempts=entry["attempts"] + 1,
                error=answer.error,
            )
            entry["ok"] = answer.registered is not None and answer.registered == entry["expect_registered"]
    for entry in results:
        if not entry["ok"] and entry["error"] is None:
            entry["error"] = "%s %s is %s, expected %s" % (
                entry["method"],
                entry["path"],
                "registered" if entry["registered"] else "not registered",
                "registered" if entry["expect_registered"] else "not registered",
            )
    return results


# ---------------------------------------------------------------- round trips
def _statuses(value: Any, index: int) -> List[int]:
    values = value if isinstance(value, list) else [200 if value is None else value]
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise WebhookProbeError("requests[%d].status must be an HTTP status or a list of them, got %r (%s)" % (index, value, type(value).__name__)) from None


def _request_parts(spec: Any, index: int) -> Tuple[str, Dict[str, str], Optional[bytes]]:
    """Validate a request spec; its method, headers and encoded body."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str) or not spec["path"].strip("/"):
        raise WebhookProbeError("requests[%d] must be a dict with a non-empty path, got %r (%s)" % (index, spec, type(spec).__name__))
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise WebhookProbeError("requests[%d].method must be one of %s, got %r" % (index, ", ".join(METHODS), spec.get("method")))
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    body = spec.get("body")
    if body is None:
        return method, headers, None
    if isinstance(body, (dict, list)):
        headers.setdefault("Content-Type", "application/json")
        return method, headers, json.dumps(body).encode("utf-8")
    return method, headers, str(body).encode("utf-8")


def _body_problems(spec: Mapping[str, Any], text: str) -> List[str]:
    problems = []
    if spec.get("body_contains") is not None and str(spec["body_contains"]) not in text:
        problems.append("the body does not contain the expected text")
    if spec.get("json_equals") is not None:
        try:
            got = json.loads(text)
        except ValueError:
            problems.append("the body is not JSON")
        else:
            if got != spec["json_equals"]:
                problems.append("the JSON body differs from json_equals")
    return problems


def _send(
    url: str, method: str, headers: Mapping[str, str], data: Optional[bytes], *, timeout: float, validate_certs: bool
) -> Tuple[Optional[int], bytes, Optional[str]]:
    try:
        response = open_url(url, method=method, headers=dict(headers), data=data, timeout=timeout, validate_certs=validate_certs, follow_redirects="none")
        return int(response.getcode()), response.read(), None
    except HTTPError as error:
        return error.code, (error.read() or b""), None
    except (URLError, UrlsConnectionError, SSLValidationError, socket.timeout, OSError) as error:
        return None, b"", "cannot reach %s: %s" % (url.split("?", maxsplit=1)[0], getattr(error, "reason", error))


def round_trip(
    base_url: str,
    spec: Mapping[str, Any],
    index: int = 0,
    *,
    webhook_path: str = DEFAULT_WEBHOOK_PATH,
    timeout: float = 10,
    attempts: int = 1,
    delay: float = 1.0,
    validate_certs: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Dict[str, Any]:
    """Call a production webhook for real (this runs the workflow) and check the answer.

    Retried only while n8n answers 404 (not registered yet: nothing ran).
    """
    method, headers, data = _request_parts(spec, index)
    expected = _statuses(spec.get("status"), index)
    url = webhook_url(base_url, webhook_path, spec["path"])
    query = spec.get("query") or {}
    full_url = url + ("?" + urlencode(query, doseq=True) if query else "")
    result: Dict[str, Any] = {"path": spec["path"].strip("/"), "method": method, "url": url, "status": None, "ok": False, "attempts": 0, "error": None}
    if spec.get("name"):
        result["name"] = spec["name"]
    raw = b""
    for attempt in range(max(1, attempts)):
        if attempt:
            sleep(delay)
        status, raw, error = _send(full_url, method, headers, data, timeout=timeout, validate_certs=validate_certs)
        result.update(attempts=attempt + 1, status=status, error=error)
        if status is not None and status != 404:
            break
    if result["status"] is None:
        return result
    problems = [] if result["status"] in expected else ["HTTP %s, expected %s" % (result["status"], " or ".join(str(s) for s in expected))]
    text = raw.decode("utf-8", "replace")
    problems += _body_problems(spec, text)
    result["ok"] = not problems
    if problems:
        result["error"] = "; ".join(problems)
        excerpt = " ".join(text.split())
        result["body_excerpt"] = excerpt[:200] + ("..." if len(excerpt) > 200 else "")
    return result


def _number(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name)
    return default if value is None else float(value)


def run_probe(
    options: Mapping[str, Any], check_mode: bool = False, prober: Prober = options_probe, sleep: Callable[[float], None] = time.sleep
) -> Dict[str, Any]:
    """What lifeboat.n8n.n8n_webhook_probe returns: ``{webhooks, requests, registered_count, failures, msg}``."""
    base_url = options.get("base_url")
    if not base_url:
        raise WebhookProbeError("base_url must be the URL where n8n's webhooks are reachable from the managed host, for example http://127.0.0.1:5678")
    webhook_path = options.get("webhook_path")
    common: Dict[str, Any] = {
        "webhook_path": DEFAULT_WEBHOOK_PATH if webhook_path is None else webhook_path,
        "timeout": _number(options, "timeout", 10),
        "attempts": int(_number(options, "retries", 0)) + 1,
        "delay": _number(options, "delay", 1),
        "validate_certs": bool(options.get("validate_certs", True)),
        "sleep": sleep,
    }
    expect = bool(options.get("expect_registered", True))
    hooks = probe_webhooks(base_url, options.get("webhooks") or [], expect_registered=expect, prober=prober, **common)
    requests: List[Dict[str, Any]] = []
    for index, spec in enumerate(options.get("requests") or []):
        if check_mode:
            path = spec.get("path") if isinstance(spec, Mapping) else None
            requests.append({"path": path, "method": str((spec or {}).get("method") or "GET").upper(), "skipped": True, "ok": None, "status": None})
        else:
            requests.append(round_trip(base_url, spec, index, **common))
    failures = ["%s %s: %s" % (h["method"], h["path"], h["error"]) for h in hooks if not h["ok"]]
    failures += ["request %s %s: %s" % (r["method"], r["path"], r["error"]) for r in requests if r.get("ok") is False]
    registered = sum(1 for h in hooks if h["registered"])
    if failures:
        msg = "Cannot confirm %d webhook check(s): %s. " % (len(failures), "; ".join(failures))
        msg += "A registered webhook needs its workflow active (published) in n8n; if none answers, check base_url and webhook_path."
    else:
        msg = "%d webhook(s) as expected (%d registered), %d request(s) ok%s" % (
            len(hooks),
            registered,
            sum(1 for r in requests if r.get("ok")),
            " (check mode: requests skipped)" if check_mode and requests else "",
        )
    return {"changed": False, "webhooks": hooks, "requests": requests, "registered_count": registered, "failures": failures, "msg": msg}
