"""Realistic seed content, the same shape on n8n 1.x and 2.x.

* ``Lifeboat echo``: a production webhook guarded by a header-auth credential; a Code
  node computes the response. The body only comes back if n8n can decrypt the
  credential with the instance key, so one GET proves key + DB + registration.
  On 2.x its published version (``activeVersionId``) differs from the draft
  (``versionId``), with three ``workflow_history`` rows: the published version
  answers ``"version": "published"``, the draft would answer ``"draft"``.
* ``Lifeboat tick``: a Schedule trigger every ``TICK_SECONDS`` whose saved
  executions prove that triggers fire after a restore.
* ``Lifeboat slow``: a webhook that answers at once and keeps its execution
  *running* in a Wait node for ``?seconds=`` (default 20): what a drain waits for.
* ``Lifeboat inactive``: never activated; its webhook must stay unregistered.
* Three credentials of different types, and finished executions (success, error).

Secrets are random per seed and returned, so tests can grep for them.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .launcher import N8nError, N8nInstance

ECHO_PATH = "lifeboat-echo"
SLOW_PATH = "lifeboat-slow"
INACTIVE_PATH = "lifeboat-inactive"
TOKEN_HEADER = "X-Lifeboat-Token"
TICK_SECONDS = 15

ECHO_CODE = """
const q = $input.first().json.query || {};
if (q.fail) {
  throw new Error('lifeboat: failure requested');
}
return [{ json: { echo: q.name || 'nobody', sum: Number(q.a || 0) + Number(q.b || 0), version: 'LABEL' } }];
"""


@dataclass
class Seeded:
    """What the seed created: ids, paths and the plaintext secrets (tests only)."""

    version: str
    token: str
    workflows: dict[str, str] = field(default_factory=dict)  # name -> id
    credentials: dict[str, str] = field(default_factory=dict)  # name -> id
    secrets: list[str] = field(default_factory=list)
    echo_published_version_id: str | None = None
    echo_draft_version_id: str | None = None

    @property
    def echo_headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token}

    @staticmethod
    def echo_params() -> dict[str, str]:
        return {"name": "lifeboat", "a": "2", "b": "3"}

    @staticmethod
    def expected_echo() -> dict[str, Any]:
        return {"echo": "lifeboat", "sum": 5, "version": "published"}


def _node(
    name: str, node_type: str, version: float, position: int, parameters: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "type": node_type,
        "typeVersion": version,
        "position": [position * 220, 300],
        "parameters": parameters,
        **extra,
    }


def _chain(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in zip(names, names[1:])}


def echo_workflow(credential_id: str, label: str) -> dict[str, Any]:
    webhook = _node(
        "Webhook",
        "n8n-nodes-base.webhook",
        2,
        0,
        {
            "httpMethod": "GET",
            "path": ECHO_PATH,
            "authentication": "headerAuth",
            "responseMode": "lastNode",
            "responseData": "firstEntryJson",
            "options": {},
        },
        webhookId=str(uuid.uuid4()),
        credentials={"httpHeaderAuth": {"id": credential_id, "name": "Lifeboat token"}},
    )
    code = _node("Compute", "n8n-nodes-base.code", 2, 1, {"jsCode": ECHO_CODE.replace("LABEL", label)})
    return {
        "name": "Lifeboat echo",
        "nodes": [webhook, code],
        "connections": _chain("Webhook", "Compute"),
        "settings": {"executionOrder": "v1", "saveDataSuccessExecution": "all", "saveDataErrorExecution": "all"},
    }


def tick_workflow() -> dict[str, Any]:
    trigger = _node(
        "Every few seconds",
        "n8n-nodes-base.scheduleTrigger",
        1.2,
        0,
        {"rule": {"interval": [{"field": "seconds", "secondsInterval": TICK_SECONDS}]}},
    )
    record = {"jsCode": "return [{ json: { tick: new Date().toISOString() } }];"}
    code = _node("Record tick", "n8n-nodes-base.code", 2, 1, record)
    return {
        "name": "Lifeboat tick",
        "nodes": [trigger, code],
        "connections": _chain("Every few seconds", "Record tick"),
        "settings": {"executionOrder": "v1", "saveDataSuccessExecution": "all"},
    }


def slow_workflow() -> dict[str, Any]:
    webhook = _node(
        "Webhook",
        "n8n-nodes-base.webhook",
        2,
        0,
        {"httpMethod": "GET", "path": SLOW_PATH, "responseMode": "onReceived", "options": {}},
        webhookId=str(uuid.uuid4()),
    )
    # Under 65 s a Wait keeps the execution `running` in memory (longer ones park as `waiting`).
    wait = _node(
        "Hold",
        "n8n-nodes-base.wait",
        1.1,
        1,
        {"resume": "timeInterval", "amount": "={{ Number($json.query.seconds || 20) }}", "unit": "seconds"},
        webhookId=str(uuid.uuid4()),
    )
    done = _node("Done", "n8n-nodes-base.noOp", 1, 2, {})
    return {
        "name": "Lifeboat slow",
        "nodes": [webhook, wait, done],
        "connections": _chain("Webhook", "Hold", "Done"),
        "settings": {"executionOrder": "v1"},
    }


def inactive_workflow(credential_id: str) -> dict[str, Any]:
    webhook = _node(
        "Webhook",
        "n8n-nodes-base.webhook",
        2,
        0,
        {"httpMethod": "POST", "path": INACTIVE_PATH, "authentication": "basicAuth", "options": {}},
        webhookId=str(uuid.uuid4()),
        credentials={"httpBasicAuth": {"id": credential_id, "name": "Lifeboat basic"}},
    )
    done = _node("Done", "n8n-nodes-base.noOp", 1, 1, {})
    return {
        "name": "Lifeboat inactive",
        "nodes": [webhook, done],
        "connections": _chain("Webhook", "Done"),
        "settings": {"executionOrder": "v1"},
    }


def activate(instance: N8nInstance, workflow_id: str, version_id: str | None = None) -> dict[str, Any]:
    """Activate (1.x) or publish a given version (2.x) through the public API."""
    if instance.major >= 2:
        body = {"versionId": version_id} if version_id else {}
        result: dict[str, Any] = instance.api("POST", f"/workflows/{workflow_id}/activate", json=body)
        return result
    result = instance.api("POST", f"/workflows/{workflow_id}/activate")
    return result


def seed(instance: N8nInstance) -> Seeded:
    """Create the seed content in a running instance and wait until its webhooks answer."""
    token = secrets.token_urlsafe(18)
    basic_password = secrets.token_urlsafe(18)
    custom_secret = secrets.token_urlsafe(18)
    seeded = Seeded(version=instance.version, token=token, secrets=[token, basic_password, custom_secret])

    def credential(name: str, cred_type: str, data: dict[str, Any]) -> str:
        created = instance.api("POST", "/credentials", json={"name": name, "type": cred_type, "data": data})
        seeded.credentials[name] = created["id"]
        return str(created["id"])

    header_id = credential("Lifeboat token", "httpHeaderAuth", {"name": TOKEN_HEADER, "value": token})
    basic_id = credential("Lifeboat basic", "httpBasicAuth", {"user": "lifeboat", "password": basic_password})
    credential(
        "Lifeboat custom",
        "httpCustomAuth",
        {"json": json.dumps({"headers": {"X-Lifeboat-Custom": custom_secret}})},
    )

    def create(workflow: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = instance.api("POST", "/workflows", json=workflow)
        seeded.workflows[workflow["name"]] = created["id"]
        return created

    echo = create(echo_workflow(header_id, "v1"))
    published = _update(instance, echo, echo_workflow(header_id, "published"))
    activate(instance, echo["id"], published["versionId"])
    seeded.echo_published_version_id = published["versionId"]
    if instance.major >= 2:
        # A draft saved after publishing: activeVersionId stays on the published version.
        draft = _update(instance, echo, echo_workflow(header_id, "draft"), publish=False)
        seeded.echo_draft_version_id = draft["versionId"]
        current = instance.api("GET", f"/workflows/{echo['id']}")
        if (current.get("activeVersionId"), current["versionId"]) != (published["versionId"], draft["versionId"]):
            raise N8nError(
                f"seed: expected published {published['versionId']} and draft {draft['versionId']}, "
                f"got {current.get('activeVersionId')} / {current['versionId']}"
            )

    tick = create(tick_workflow())
    activate(instance, tick["id"], tick.get("versionId"))
    slow = create(slow_workflow())
    activate(instance, slow["id"], slow.get("versionId"))
    create(inactive_workflow(basic_id))

    # Finished executions: one success, one error.
    response = instance.wait_webhook(ECHO_PATH, params=seeded.echo_params(), headers=seeded.echo_headers)
    if response.status_code != 200 or response.json() != Seeded.expected_echo():
        raise N8nError(f"seed: echo webhook answered {response.status_code} {response.text[:300]}")
    instance.webhook(ECHO_PATH, params={"fail": "1"}, headers=seeded.echo_headers)
    wait_for_executions(instance, statuses=("success", "error"))
    return seeded


def _update(
    instance: N8nInstance, existing: dict[str, Any], workflow: dict[str, Any], publish: bool = True
) -> dict[str, Any]:
    """Save a new version, keeping node and webhook ids stable as the editor does.

    ``publish=False`` saves a draft beside the published version (2.x; recent 2.x
    publish an update of a published workflow unless told not to).
    """
    by_name = {node["name"]: node for node in existing["nodes"]}
    nodes = []
    for node in workflow["nodes"]:
        old = by_name.get(node["name"], {})
        nodes.append({**node, **{key: old[key] for key in ("id", "webhookId") if key in old}})
    params = {} if publish else {"publishIfActive": "false"}
    updated: dict[str, Any] = instance.api(
        "PUT", f"/workflows/{existing['id']}", json={**workflow, "nodes": nodes}, params=params
    )
    return updated


def wait_for_executions(instance: N8nInstance, statuses: tuple[str, ...], timeout: float = 120.0) -> None:
    # Ends as soon as both are there; under CI load (integration beside three Molecule
    # scenarios on two cores) an execution can take well over 30 s to be stored.
    deadline = time.monotonic() + timeout
    missing = set(statuses)
    while missing and time.monotonic() < deadline:
        for status in list(missing):
            if instance.api("GET", "/executions", params={"status": status, "limit": 1})["data"]:
                missing.discard(status)
        if missing:
            time.sleep(0.5)
    if missing:
        raise N8nError(f"seed: no {sorted(missing)} executions after {timeout} s")
