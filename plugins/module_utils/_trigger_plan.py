# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which workflows to re-register after a restore, in which order, to which version, and why.

This is a private module_utils (leading underscore): its API may change between releases.

A restored database says a workflow is active, but its triggers are registered only when
n8n activates it: webhooks live in n8n's memory and in ``webhook_entity`` under the
instance's current URL, schedules in the process. So every workflow that was active in
the backup is toggled (deactivated, then activated / published at the version that was
live when the backup was taken), and everything else is left alone or explained.

Order: deactivations first (nothing stale keeps answering), then workflows with
webhooks (the ones callers notice), then other triggers, then the rest; ties by id.
"""

from __future__ import absolute_import, annotations, division, print_function

from typing import Any, Dict, List, Mapping, Optional

__metaclass__ = type

ACTIONS = ("toggle", "deactivate", "skip", "error")
# Sort groups (lower first).
_DEACTIVATE, _WEBHOOKS, _TRIGGERS, _OTHER, _ERROR, _SKIP = range(6)
_SCHEDULE_HINTS = ("schedule", "cron", "interval")


def _type(value: Any) -> str:
    """The builtin type a value is (Ansible passes its own subclasses of dict, list and str)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")


def _show(value: Any) -> str:
    """A value for a message: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class TriggerPlanError(ValueError):
    """The inputs are not shaped as documented (the message names the bad value and its type)."""


def _records(records: Any, label: str) -> Dict[str, Dict[str, Any]]:
    if records is None:
        return {}
    if not isinstance(records, (list, tuple)):
        raise TriggerPlanError("%s must be a list of workflow records, got %s (%s)" % (label, _show(records), _type(records)))
    result: Dict[str, Dict[str, Any]] = {}
    for index, record in enumerate(records):
        where = "%s[%d]" % (label, index)
        if not isinstance(record, Mapping):
            raise TriggerPlanError("%s must be a workflow record {id, name, active, ...}, got %s (%s)" % (where, _show(record), _type(record)))
        wid = record.get("id")
        if isinstance(wid, int) and not isinstance(wid, bool):
            wid = str(wid)
        if not isinstance(wid, str) or not wid:
            raise TriggerPlanError("%s.id must be a non-empty string, got %s (%s)" % (where, _show(wid), _type(wid)))
        if wid in result:
            raise TriggerPlanError("%s: workflow id %r appears twice in %s" % (where, wid, label))
        active = record.get("active")
        if not isinstance(active, bool):
            raise TriggerPlanError("%s.active must be a boolean, got %s (%s)" % (where, _show(active), _type(active)))
        archived = record.get("archived", False)
        if not isinstance(archived, bool):
            raise TriggerPlanError("%s.archived must be a boolean, got %s (%s)" % (where, _show(archived), _type(archived)))
        for name in ("trigger_types", "webhooks"):
            if not isinstance(record.get(name) or [], (list, tuple)):
                raise TriggerPlanError("%s.%s must be a list, got %s (%s)" % (where, name, _show(record.get(name)), _type(record.get(name))))
        result[wid] = dict(record, id=wid, archived=archived)
    return result


def _webhook_labels(record: Mapping[str, Any]) -> List[str]:
    labels = []
    for hook in record.get("webhooks") or []:
        if isinstance(hook, Mapping):
            labels.append(("%s %s" % (hook.get("method") or "", hook.get("path") or "")).strip())
        else:
            labels.append(str(hook))
    return labels


def _entry(
    record: Mapping[str, Any], action: str, reasons: List[str], *, group: int, active: Optional[bool], version_id: Optional[str] = None
) -> Dict[str, Any]:
    return {
        "id": record["id"],
        "name": record.get("name") or "",
        "action": action,
        "version_id": version_id,
        "reasons": reasons,
        "order": 0,
        # Ready for the activation module's `workflows` input (see activation_workflows()).
        "active": active,
        "toggle": action == "toggle",
        "_group": group,
    }


def _toggle(backup: Mapping[str, Any], live: Mapping[str, Any], drift: Mapping[str, Any]) -> Dict[str, Any]:
    triggers = [str(name) for name in backup.get("trigger_types") or []]
    hooks = _webhook_labels(backup)
    reasons = ["active in backup"]
    if backup.get("active_version_id"):
        version_id = backup["active_version_id"]
        reasons.append("publish the version active at backup time: %s" % version_id)
    else:
        # n8n 1.x: no separately published version; activation takes the current one (null = current).
        version_id = None
        if backup.get("version_id"):
            reasons.append("activate the current version %s (the backup records no separate active version, as on n8n 1.x)" % backup["version_id"])
    if triggers:
        reasons.append("has trigger nodes: %s" % ", ".join(triggers))
    if hooks:
        reasons.append("webhooks: %s" % ", ".join(hooks))
        if drift.get("webhooks_affected"):
            reasons.append("env drift touches webhooks")
    if drift.get("schedules_affected") and any(hint in name.lower() for name in triggers for hint in _SCHEDULE_HINTS):
        reasons.append("env drift touches schedules")
    if not live.get("active"):
        reasons.append("inactive in the restored instance")
    group = _WEBHOOKS if hooks else (_TRIGGERS if triggers else _OTHER)
    return _entry(backup, "toggle", reasons, group=group, active=True, version_id=version_id)


def _live_mismatch(backup: Mapping[str, Any], live: Mapping[str, Any]) -> Optional[str]:
    if live.get("archived") and not backup.get("archived"):
        return "archived in the restored instance but not in the backup: the restore is incomplete or from another backup"
    b_version, l_version = backup.get("version_id"), live.get("version_id")
    if b_version and l_version and b_version != l_version:
        return "the restored instance has versionId %s where the backup recorded %s: the restore is incomplete or from another backup" % (l_version, b_version)
    return None


def trigger_plan(manifest_workflows: Any, live_workflows: Any, env_drift: Any = None) -> List[Dict[str, Any]]:
    """Plan the re-registration of triggers after a restore.

    ``manifest_workflows`` are the manifest's ``workflows`` records; ``live_workflows`` the same
    shape as reported by the restored instance; ``env_drift`` the result of ``env_drift()``
    (optional). Returns one entry per workflow, in execution order:
    ``{id, name, action, version_id, reasons, order, active, toggle}`` with action toggle
    (deactivate, then activate/publish ``version_id``), deactivate, skip or error.
    """
    backup = _records(manifest_workflows, "manifest_workflows")
    live = _records(live_workflows, "live_workflows")
    if env_drift is None:
        env_drift = {}
    if not isinstance(env_drift, Mapping):
        raise TriggerPlanError("env_drift must be the mapping env_drift() returns, got %s (%s)" % (_show(env_drift), _type(env_drift)))

    plan: List[Dict[str, Any]] = []
    for wid, record in backup.items():
        current = live.get(wid)
        if current is None:
            plan.append(_entry(record, "error", ["in the backup but missing from the restored instance: the restore is incomplete"], group=_ERROR, active=None))
            continue
        mismatch = _live_mismatch(record, current)
        if mismatch:
            plan.append(_entry(record, "error", [mismatch], group=_ERROR, active=None))
        elif record.get("active") and record["archived"]:
            plan.append(
                _entry(record, "skip", ["active in backup but archived: n8n does not run archived workflows"], group=_SKIP, active=current["active"])
            )
        elif record.get("active"):
            plan.append(_toggle(record, current, env_drift))
        elif current["active"]:
            plan.append(_entry(record, "deactivate", ["inactive in backup but active in the restored instance"], group=_DEACTIVATE, active=False))
        else:
            plan.append(_entry(record, "skip", ["inactive in backup and in the restored instance"], group=_SKIP, active=False))
    for wid, record in live.items():
        if wid not in backup:
            plan.append(_entry(record, "skip", ["not in the backup: left alone"], group=_SKIP, active=record["active"]))

    plan.sort(key=lambda item: (item["_group"], item["id"]))
    for order, item in enumerate(plan, start=1):
        item["order"] = order
        del item["_group"]
    return plan


def activation_workflows(plan: Any, errors: str = "fail") -> List[Dict[str, Any]]:
    """The ``workflows`` input of the activation module: ``[{id, active, version_id, toggle}]``.

    Only toggle and deactivate entries, in plan order. Error entries (workflows missing from
    the restore) make it fail unless ``errors='omit'``.
    """
    if errors not in ("fail", "omit"):
        raise TriggerPlanError("errors must be 'fail' or 'omit', got %s (%s)" % (_show(errors), _type(errors)))
    if not isinstance(plan, (list, tuple)):
        raise TriggerPlanError("the plan must be the list trigger_plan returns, got %s (%s)" % (_show(plan), _type(plan)))
    items: List[Dict[str, Any]] = []
    failed: List[str] = []
    for index, entry in enumerate(plan):
        if not isinstance(entry, Mapping) or entry.get("action") not in ACTIONS or "id" not in entry:
            raise TriggerPlanError("plan[%d] is not a trigger_plan entry {id, action, ...}: %s (%s)" % (index, _show(entry), _type(entry)))
        if entry["action"] == "error":
            failed.append("%s (%s)" % (entry["id"], "; ".join(entry.get("reasons") or [])))
        elif entry["action"] in ("toggle", "deactivate"):
            items.append(
                {
                    "id": entry["id"],
                    "active": entry["action"] == "toggle",
                    "version_id": entry.get("version_id") if entry["action"] == "toggle" else None,
                    "toggle": entry["action"] == "toggle",
                }
            )
    if failed and errors == "fail":
        raise TriggerPlanError(
            "Cannot activate workflows: %d workflow(s) of the backup are wrong in the restored instance: %s. "
            "Re-run the restore, or pass errors='omit' to activate the others anyway." % (len(failed), "; ".join(failed))
        )
    return items
