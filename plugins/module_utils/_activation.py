# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bring workflows to a wanted activation state: plan (pure), then apply (API or CLI).

This is a private module_utils (leading underscore): its API may change between releases.

A workflow's state is ``active`` plus, on 2.x, *which* version is live
(``activeVersionId``; the editor's draft is ``versionId``). :func:`plan` compares the
current states with the wanted ones and returns the few actions that close the gap:
nothing when a workflow already is as wanted (idempotence), unless ``toggle`` asks for a
deactivation followed by an activation, which is how n8n re-registers a workflow's
triggers and webhooks (after a restore, or a change of ``WEBHOOK_URL``).

:func:`apply` runs actions through a backend:

* :class:`ApiBackend`: the public API while n8n runs (2.x ``/publish`` ``{versionId}`` and
  ``/unpublish``; 1.x ``/activate`` and ``/deactivate``);
* :class:`N8nCli`: n8n's CLI while n8n is stopped (2.x ``publish:workflow --id=X
  --versionId=V`` / ``unpublish:workflow --id=X``; 1.x ``update:workflow --id=X
  --active=true|false``). The CLI only writes the database: n8n registers triggers of
  active workflows at its next start.

n8n 1.x always activates a workflow's current ``versionId`` (1.123 has ``activeVersionId``
but ignores a requested version), so wanting another version on 1.x is an error.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.lifeboat.n8n.plugins.module_utils._api import N8nApi, N8nApiError
from ansible_collections.lifeboat.n8n.plugins.module_utils._env import REDACTED, is_secret_name
from ansible_collections.lifeboat.n8n.plugins.module_utils._webhook_probe import (
    DEFAULT_WEBHOOK_PATH,
    Prober,
    options_probe,
    probe_webhooks,
    workflow_webhooks,
)

__metaclass__ = type

ACTIVATE = "activate"
DEACTIVATE = "deactivate"
ERROR = "error"


class ActivationError(ValueError):
    """Options are not shaped as documented, or a backend cannot be used at all."""


# ------------------------------------------------------------------- states
@dataclass
class WorkflowState:
    """What matters about a workflow's activation, from the API or a CLI export."""

    id: str
    name: str = ""
    active: bool = False
    version_id: Optional[str] = None  # the current (draft) version
    active_version_id: Optional[str] = None  # the live version (2.x; 1.123 keeps it == version_id)
    archived: bool = False
    webhooks: List[Dict[str, str]] = field(default_factory=list)  # of the live version

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "WorkflowState":
        active = bool(data.get("active"))
        version_id = data.get("versionId")
        if "activeVersionId" in data:
            active_version_id = data.get("activeVersionId")
            active = active_version_id is not None  # 2.x: "active" means a published version
        else:  # 1.x before activeVersionId existed
            active_version_id = version_id if active else None
        return cls(
            id=str(data.get("id")),
            name=str(data.get("name") or ""),
            active=active,
            version_id=version_id,
            active_version_id=active_version_id,
            archived=bool(data.get("isArchived")),
            webhooks=workflow_webhooks(data) if active else [],
        )

    def summary(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "exists": True,
            "active": self.active,
            "active_version_id": self.active_version_id,
            "version_id": self.version_id,
        }


@dataclass
class Desired:
    id: str
    active: bool = True
    version_id: Optional[str] = None  # None: keep the live version, or the draft when inactive
    toggle: bool = False

    @classmethod
    def from_mapping(cls, item: Any, index: int = 0) -> "Desired":
        if not isinstance(item, Mapping):
            raise ActivationError("workflows[%d] must be a dict {id, active, version_id, toggle}, got %r (%s)" % (index, item, type(item).__name__))
        wid = item.get("id")
        if isinstance(wid, int) and not isinstance(wid, bool):
            wid = str(wid)
        if not isinstance(wid, str) or not wid:
            raise ActivationError("workflows[%d].id must be a non-empty string, got %r (%s)" % (index, wid, type(wid).__name__))
        active = item.get("active", True)
        active = True if active is None else active
        if not isinstance(active, bool):
            raise ActivationError("workflows[%d].active must be a boolean, got %r (%s)" % (index, active, type(active).__name__))
        version_id = item.get("version_id") or None
        if version_id is not None and not isinstance(version_id, str):
            raise ActivationError("workflows[%d].version_id must be a string, got %r (%s)" % (index, version_id, type(version_id).__name__))
        return cls(id=wid, active=active, version_id=version_id, toggle=bool(item.get("toggle")))


@dataclass
class Action:
    workflow_id: str
    kind: str  # activate | deactivate | error
    name: str = ""
    version_id: Optional[str] = None
    reason: str = ""
    error: Optional[str] = None

    def result(self, ok: Optional[bool], error: Optional[str] = None, via: Optional[str] = None) -> Dict[str, Any]:
        return {
            "id": self.workflow_id,
            "name": self.name,
            "action": self.kind,
            "version_id": self.version_id,
            "reason": self.reason,
            "ok": ok,
            "error": error if error is not None else self.error,
            "via": via,
        }


def _as_state(item: Any) -> WorkflowState:
    if isinstance(item, WorkflowState):
        return item
    if isinstance(item, Mapping):
        return WorkflowState(**{k: v for k, v in item.items() if k in WorkflowState.__dataclass_fields__})
    raise ActivationError("current states must be WorkflowState or dicts, got %r (%s)" % (item, type(item).__name__))


# --------------------------------------------------------------------- plan
def plan(current: Sequence[Any], desired: Sequence[Any], major: int = 2) -> List[Action]:
    """The actions that bring ``current`` to ``desired``, in the order of ``desired``.

    No action for a workflow already as wanted (active with the wanted live version, or
    inactive), unless ``toggle``: then an active workflow is deactivated and activated
    again (an inactive one just activated). ``toggle`` is ignored for ``active: false``.
    Workflows missing from ``current`` get an ``error`` action, as do wishes n8n cannot
    fulfil (an archived workflow; another version than the draft on 1.x).
    """
    states = {state.id: state for state in (_as_state(item) for item in current)}
    wanted = [item if isinstance(item, Desired) else Desired.from_mapping(item, i) for i, item in enumerate(desired)]
    seen = set()
    actions: List[Action] = []
    for want in wanted:
        if want.id in seen:
            raise ActivationError("workflow %s is listed twice in workflows: give each workflow once" % want.id)
        seen.add(want.id)
        state = states.get(want.id)
        if state is None:
            actions.append(Action(want.id, ERROR, error="workflow %s not found in this n8n instance: check the id (a restore may be incomplete)" % want.id))
            continue
        if not want.active:
            if state.active:
                actions.append(Action(state.id, DEACTIVATE, state.name, state.active_version_id, "active, wanted inactive"))
            continue
        target = want.version_id or (state.active_version_id if state.active else state.version_id)
        in_state = state.active and state.active_version_id == target
        if in_state and not want.toggle:
            continue
        if state.archived:
            actions.append(Action(state.id, ERROR, state.name, target, error="workflow %s is archived: n8n cannot activate it; unarchive it first" % state.id))
            continue
        if major < 2 and target != state.version_id:
            actions.append(
                Action(
                    state.id,
                    ERROR,
                    state.name,
                    target,
                    error="n8n 1.x activates only a workflow's current version (%s), not %s: leave version_id empty on 1.x" % (state.version_id, target),
                )
            )
            continue
        if not target:
            actions.append(Action(state.id, ERROR, state.name, None, error="workflow %s has no version to activate" % state.id))
            continue
        if want.toggle and state.active:
            actions.append(Action(state.id, DEACTIVATE, state.name, state.active_version_id, "toggle: deactivate to re-register triggers"))
            actions.append(Action(state.id, ACTIVATE, state.name, target, "toggle: activate version %s again" % target))
        elif state.active:
            actions.append(Action(state.id, ACTIVATE, state.name, target, "live version %s, wanted %s" % (state.active_version_id, target)))
        else:
            actions.append(Action(state.id, ACTIVATE, state.name, target, "inactive, wanted active" + (" (toggle)" if want.toggle else "")))
    return actions


def predict(current: Sequence[Any], actions: Sequence[Action]) -> Dict[str, WorkflowState]:
    """The states after ``actions`` succeed (what check mode reports)."""
    states = {s.id: replace(s) for s in (_as_state(i) for i in current)}
    for action in actions:
        state = states.get(action.workflow_id)
        if state is None or action.kind == ERROR:
            continue
        state.active = action.kind == ACTIVATE
        state.active_version_id = action.version_id if state.active else None
    return states


# ------------------------------------------------------------------ backends
class ApiBackend:
    """Activation through the public API of a running n8n."""

    def __init__(self, client: N8nApi, major: int) -> None:
        self.client = client
        self.major = major

    def activate(self, workflow_id: str, version_id: Optional[str]) -> Tuple[str, Optional[Mapping[str, Any]]]:
        answer = self.client.publish(workflow_id, version_id) if self.major >= 2 else self.client.activate(workflow_id, version_id)
        return str(self.client.last_endpoint), answer

    def deactivate(self, workflow_id: str) -> Tuple[str, Optional[Mapping[str, Any]]]:
        answer = self.client.unpublish(workflow_id) if self.major >= 2 else self.client.deactivate(workflow_id)
        return str(self.client.last_endpoint), answer


Runner = Callable[[List[str], Mapping[str, str], float], Tuple[int, str, str]]


def subprocess_runner(argv: List[str], env: Mapping[str, str], timeout: float) -> Tuple[int, str, str]:
    """Run a command with ``env`` added to this process's environment."""
    try:
        proc = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return 127, "", "command not found: %s" % argv[0]
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %s s" % timeout
    return proc.returncode, proc.stdout, proc.stderr


class N8nCliError(Exception):
    """An n8n CLI command failed; the message says which and why (secrets removed)."""


class N8nCli:
    """n8n's CLI (``n8n_command``) for a stopped instance: read state, (un)publish."""

    def __init__(self, command: Sequence[str], env: Optional[Mapping[str, str]] = None, runner: Optional[Runner] = None, timeout: float = 300) -> None:
        if not command:
            raise ActivationError("n8n_command must give the n8n command line for cli mode, for example ['n8n'] or ['node', '/opt/n8n/bin/n8n']")
        self.command = [str(part) for part in command]
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.runner = runner or subprocess_runner
        self.timeout = timeout
        self._version: Optional[str] = None
        self._secrets = sorted((v for k, v in self.env.items() if is_secret_name(k) and len(v) >= 4), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def run(self, args: List[str], what: str) -> str:
        code, out, err = self.runner(self.command + args, self.env, self.timeout)
        if code != 0:
            lines = [line.strip() for line in (out + "\n" + err).splitlines() if line.strip() and not line.strip().startswith("at ")]
            detail = lines[-1] if lines else "no output"
            raise N8nCliError(
                self.scrub(
                    "Cannot %s with the n8n CLI (%s %s): exit %d: %s. Check n8n_command and n8n_env (the database settings and "
                    "N8N_ENCRYPTION_KEY n8n runs with), and that n8n is stopped." % (what, " ".join(self.command[-1:]), args[0], code, detail[:300])
                )
            )
        return out

    @property
    def version(self) -> str:
        """The bare version ``n8n --version`` prints (``2.40.7``)."""
        if self._version is None:
            out = self.run(["--version"], "read the n8n version")
            for line in out.splitlines():
                candidate = line.strip().split()[-1] if line.strip() else ""
                if candidate[:1].isdigit() and candidate.count(".") >= 2:
                    self._version = candidate
            if not self._version:
                raise N8nCliError("Cannot read the n8n version: `%s --version` printed no version. Check n8n_command." % " ".join(self.command))
        return self._version

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def keeps_stale_webhooks(self) -> bool:
        """Whether a CLI deactivation leaves the workflow's ``webhook_entity`` rows behind.

        Measured: 1.123.81 and 2.38.7 keep them after ``update:workflow --active=false`` /
        ``unpublish:workflow`` and a restart; 2.40.7 cleans them up at start.
        """
        try:
            parts = tuple(int(part) for part in self.version.split("-")[0].split(".")[:2])
        except ValueError:
            return True
        return parts < (2, 40)

    def export_workflows(self) -> List[Dict[str, Any]]:
        """All workflows as ``export:workflow --all`` prints them (one JSON line on stdout)."""
        out = self.run(["export:workflow", "--all"], "read the workflows")
        for line in reversed(out.splitlines()):
            text = line.strip()
            if text.startswith("["):
                try:
                    data = json.loads(text)
                except ValueError:
                    continue
                if isinstance(data, list):
                    return [item for item in data if isinstance(item, dict)]
        start = out.find("[{")
        if start >= 0:
            try:
                data, _end = json.JSONDecoder().raw_decode(out[start:])
            except ValueError:
                data = None
            if isinstance(data, list):
                return [item for item in data if isinstance(item, dict)]
        raise N8nCliError(
            "Cannot read the workflows: `export:workflow --all` printed no JSON list. Check n8n_command and n8n_env (n8n must find its database)."
        )

    def activate(self, workflow_id: str, version_id: Optional[str]) -> Tuple[str, Optional[Mapping[str, Any]]]:
        if self.major >= 2:
            args = ["publish:workflow", "--id=%s" % workflow_id] + (["--versionId=%s" % version_id] if version_id else [])
        else:
            args = ["update:workflow", "--id=%s" % workflow_id, "--active=true"]
        self.run(args, "activate workflow %s" % workflow_id)
        return args[0], None

    def deactivate(self, workflow_id: str) -> Tuple[str, Optional[Mapping[str, Any]]]:
        if self.major >= 2:
            args = ["unpublish:workflow", "--id=%s" % workflow_id]
        else:
            args = ["update:workflow", "--id=%s" % workflow_id, "--active=false"]
        self.run(args, "deactivate workflow %s" % workflow_id)
        return args[0], None


# -------------------------------------------------------------------- apply
def _check_answer(action: Action, answer: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Whether n8n's answer shows the wanted state (None when it cannot tell)."""
    if not isinstance(answer, Mapping) or "activeVersionId" not in answer:
        return None
    live = answer.get("activeVersionId")
    if action.kind == ACTIVATE and live != action.version_id:
        return "n8n answered with live version %s instead of %s" % (live, action.version_id)
    if action.kind == DEACTIVATE and live is not None:
        return "n8n answered with the workflow still live (version %s)" % live
    return None


def apply(backend: Any, actions: Sequence[Action], after_deactivate: Optional[Callable[[Action], Optional[str]]] = None) -> List[Dict[str, Any]]:
    """Run ``actions`` in order; a failure is recorded and the others still run.

    Later steps of a workflow whose earlier step failed are skipped (a failed
    deactivation is not followed by an activation). ``after_deactivate`` (optional)
    runs after each successful deactivation and may return an error text.
    """
    results: List[Dict[str, Any]] = []
    failed = set()
    for action in actions:
        if action.kind == ERROR:
            results.append(action.result(False))
            failed.add(action.workflow_id)
            continue
        if action.workflow_id in failed:
            results.append(action.result(False, "skipped: an earlier step for workflow %s failed" % action.workflow_id))
            continue
        try:
            call = backend.activate(action.workflow_id, action.version_id) if action.kind == ACTIVATE else backend.deactivate(action.workflow_id)
        except (N8nApiError, N8nCliError) as error:
            results.append(action.result(False, str(error)))
            failed.add(action.workflow_id)
            continue
        via, answer = call
        problem = _check_answer(action, answer)
        if problem is None and action.kind == DEACTIVATE and after_deactivate is not None:
            problem = after_deactivate(action)
        results.append(action.result(problem is None, problem, via))
        if problem is not None:
            failed.add(action.workflow_id)
    return results


def verify(results: List[Dict[str, Any]], final: Mapping[str, WorkflowState]) -> None:
    """Mark successful results whose workflow did not end in the wanted state (CLI mode)."""
    last: Dict[str, Dict[str, Any]] = {}
    for result in results:
        last[result["id"]] = result
    for wid, result in last.items():
        state = final.get(wid)
        if not result["ok"] or result["action"] == ERROR:
            continue
        if state is None:
            result.update(ok=False, error="workflow %s is missing after the change" % wid)
        elif result["action"] == ACTIVATE and (not state.active or state.active_version_id != result["version_id"]):
            error = "n8n reported success but workflow %s has live version %s, not %s" % (wid, state.active_version_id, result["version_id"])
            result.update(ok=False, error=error)
        elif result["action"] == DEACTIVATE and state.active:
            result.update(ok=False, error="n8n reported success but workflow %s is still active" % wid)


# --------------------------------------------------------------- the module
def _wait_options(options: Mapping[str, Any]) -> Dict[str, Any]:
    timeout = float(options.get("webhook_timeout") or 60)
    delay = 1.0
    return {
        "base_url": options.get("webhook_base_url") or options.get("api_url"),
        "webhook_path": DEFAULT_WEBHOOK_PATH if options.get("webhook_path") is None else options["webhook_path"],
        "attempts": max(1, int(math.ceil(timeout / delay))),
        "delay": delay,
        "timeout": min(10.0, float(options.get("api_timeout") or 30)),
        "validate_certs": bool(options.get("validate_certs", True)),
    }


def _hooks(state: Optional[WorkflowState], expect: bool) -> List[Dict[str, Any]]:
    if state is None:
        return []
    return [dict(hook, workflow_id=state.id, expect_registered=expect) for hook in state.webhooks]


class _Target:
    """One n8n instance to act on: its backend, its major and how to read its states."""

    def __init__(self, backend: Any, major: int, read: Callable[[], Dict[str, WorkflowState]]) -> None:
        self.backend = backend
        self.major = major
        self.read = read


def _api_target(options: Mapping[str, Any], wanted: List[Desired]) -> _Target:
    client = N8nApi(
        options.get("api_url") or "",
        options.get("api_key") or "",
        validate_certs=bool(options.get("validate_certs", True)),
        timeout=float(options.get("api_timeout") or 30),
    )
    found: Dict[str, Mapping[str, Any]] = {}
    for want in wanted:
        try:
            found[want.id] = client.get_workflow(want.id)
        except N8nApiError as error:
            if error.status != 404:
                raise
    major = client.detect_major(next(iter(found.values()))) if found else 2
    first = {wid: WorkflowState.from_api(data) for wid, data in found.items()}
    reads = [first]

    def read() -> Dict[str, WorkflowState]:
        if reads:  # the states read to detect the major serve as the first read
            return reads.pop()
        return {wid: WorkflowState.from_api(client.get_workflow(wid)) for wid in found}

    return _Target(ApiBackend(client, major), major, read)


def _cli_target(options: Mapping[str, Any], runner: Optional[Runner]) -> _Target:
    cli = N8nCli(options.get("n8n_command") or [], options.get("n8n_env") or {}, runner, float(options.get("cli_timeout") or 300))

    def read() -> Dict[str, WorkflowState]:
        return {str(item.get("id")): WorkflowState.from_api(item) for item in cli.export_workflows()}

    return _Target(cli, cli.major, read)


STALE_WEBHOOKS_WARNING = (
    "n8n %s keeps the webhook registrations (webhook_entity rows) of workflows deactivated through its CLI (%s): "
    "their webhooks answer 404 and run nothing, but the paths stay taken and an OPTIONS probe still finds them. "
    "Deactivate through the API (mode=api) while n8n runs to remove them."
)


def _await_activations(
    results: List[Dict[str, Any]], final: Mapping[str, WorkflowState], probe: Callable[[List[Dict[str, Any]]], List[Dict[str, Any]]]
) -> None:
    """Poll the webhooks of each activated workflow; a webhook that never registers fails its workflow."""
    activated: List[str] = []
    for result in results:
        if result["ok"] and result["action"] == ACTIVATE and result["id"] not in activated:
            activated.append(result["id"])
    hooks: List[Dict[str, Any]] = []
    for wid in activated:
        hooks += _hooks(final.get(wid), True)
    for hook in probe(hooks) if hooks else []:
        if hook["ok"]:
            continue
        for result in results:
            if result["id"] == hook["workflow_id"] and result["ok"]:
                result.update(ok=False, error=hook["error"])


def _report(wanted: List[Desired], final: Mapping[str, WorkflowState], results: List[Dict[str, Any]], check_mode: bool) -> Tuple[List[Dict[str, Any]], str]:
    states = []
    for want in wanted:
        state = final.get(want.id)
        states.append(state.summary() if state else {"id": want.id, "name": "", "exists": False, "active": None, "active_version_id": None, "version_id": None})
    failed = [r for r in results if r["ok"] is False]
    if failed:
        details = "; ".join("%s %s: %s" % (r["action"], r["id"], r["error"]) for r in failed)
        return states, "Cannot bring %d of %d workflow(s) to the wanted state: %s" % (len({r["id"] for r in failed}), len(wanted), details)
    return states, "%d action(s)%s on %d workflow(s)" % (len(results), " planned" if check_mode else "", len(wanted))


def run(
    options: Mapping[str, Any],
    check_mode: bool = False,
    runner: Optional[Runner] = None,
    prober: Prober = options_probe,
    sleep: Callable[[float], None] = time.sleep,
) -> Dict[str, Any]:
    """What lifeboat.n8n.n8n_workflow_activation returns.

    ``{changed, actions, workflows, webhooks, failed, msg, major, mode, warnings}``;
    ``failed`` is true when any action (or webhook wait) failed, after all were tried.
    """
    mode = options.get("mode") or "api"
    wanted = [Desired.from_mapping(item, i) for i, item in enumerate(options.get("workflows") or [])]
    warnings: List[str] = []
    if mode == "api":
        target = _api_target(options, wanted)
    elif mode == "cli":
        target = _cli_target(options, runner)
        if options.get("wait_webhooks"):
            warnings.append("wait_webhooks is ignored in cli mode: n8n is stopped; probe the webhooks after starting it (lifeboat.n8n.n8n_webhook_probe)")
    else:
        raise ActivationError("mode must be api or cli, got %r" % (mode,))

    before = target.read() if wanted else {}
    actions = plan(list(before.values()), wanted, target.major)
    wait = bool(options.get("wait_webhooks")) and mode == "api" and not check_mode
    webhooks: List[Dict[str, Any]] = []

    def probe(hooks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        checked: List[Dict[str, Any]] = probe_webhooks(webhooks=hooks, prober=prober, sleep=sleep, **_wait_options(options))
        webhooks.extend(checked)
        return checked

    def wait_unregistered(action: Action) -> Optional[str]:
        hooks = _hooks(before.get(action.workflow_id), False)
        bad = [h for h in (probe(hooks) if hooks else []) if not h["ok"]]
        return "after deactivation: %s" % "; ".join(h["error"] for h in bad) if bad else None

    if check_mode:
        results = [a.result(None if a.kind != ERROR else False) for a in actions]
        final = predict(list(before.values()), actions)
        changed = any(a.kind != ERROR for a in actions)
    else:
        results = apply(target.backend, actions, after_deactivate=wait_unregistered if wait else None)
        final = target.read() if any(r["via"] for r in results) else before
        if mode == "cli":
            verify(results, final)
            deactivated = [r["id"] for r in results if r["action"] == DEACTIVATE and r["via"]]
            if deactivated and target.backend.keeps_stale_webhooks:
                warnings.append(STALE_WEBHOOKS_WARNING % (target.backend.version, ", ".join(deactivated)))
        if wait:
            _await_activations(results, final, probe)
        # A change ran when n8n accepted a call, even if a later check failed.
        changed = any(r["via"] for r in results)
    states, msg = _report(wanted, final, results, check_mode)
    return {
        "changed": changed,
        "failed": any(r["ok"] is False for r in results),
        "msg": msg,
        "major": target.major,
        "mode": mode,
        "actions": results,
        "workflows": states,
        "webhooks": webhooks,
        "warnings": warnings,
    }
